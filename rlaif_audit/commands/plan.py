"""`rlaif-audit plan`: how many human labels an audit needs (agreement drop; win-rate CI, with or without PPI)."""

from __future__ import annotations

import json
from typing import Any, Sequence

import click

from rlaif_audit import hookimpl

SHARE = click.FloatRange(0.0, 1.0, min_open=True, max_open=True)


def _print(header: dict[str, Any], rows: Sequence[Any], as_json: bool, achieved: str) -> None:
    """The answer as a table (or JSON): method, labels needed, what that n achieves, note."""
    if as_json:
        click.echo(json.dumps({**header, "rows": [row.to_dict() for row in rows]}, indent=2))
        return
    click.echo(", ".join(f"{key} = {value}" for key, value in header.items() if value is not None))
    cells = [("method", "human labels", achieved, "note")]
    cells += [(row.method, "—" if row.n_labels is None else str(row.n_labels),
               "—" if row.achieved is None else f"{row.achieved:.4f}", row.note) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(3)]
    for line in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line[:3], widths)) + "  " + line[3])


@click.group(name="plan")
def plan_group() -> None:
    """How many human labels an audit needs (sample size and power)."""


@plan_group.command(name="agreement")
@click.option("--p0", type=SHARE, required=True, help="The judge's agreement with humans now (e.g. 0.8), "
              "known from an earlier audit.")
@click.option("--drop", type=SHARE, required=True, help="The agreement drop to detect, as a share (0.05 = 5 points).")
@click.option("--alpha", type=SHARE, default=0.05, show_default=True, help="Significance level of the test.")
@click.option("--power", type=SHARE, default=0.8, show_default=True, help="Probability of detecting the drop.")
@click.option("--alternative", type=click.Choice(["one-sided", "two-sided"]), default="one-sided",
              show_default=True, help="one-sided: test only for a drop; two-sided: for any change (α/2 a tail).")
@click.option("--design", type=click.Choice(["one-sample", "two-sample"]), default="one-sample", show_default=True,
              help="one-sample: new labels against the known p0 (normal approximation and exact binomial); "
              "two-sample: two audits of n labels each, both estimated (pooled z-test).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def agreement_command(p0: float, drop: float, alpha: float, power: float, alternative: str, design: str,
                      as_json: bool) -> None:
    """Labels needed to detect a drop in agreement with humans."""
    from rlaif_audit.auditing.power import agreement_plan

    if drop >= p0:
        raise click.BadParameter(f"the drop ({drop}) must be smaller than p0 ({p0})", param_hint="'--drop'")
    if power <= alpha:
        raise click.BadParameter(f"the power ({power}) must exceed alpha ({alpha})", param_hint="'--power'")
    rows = agreement_plan(p0, drop, alpha, power, alternative, design)  # type: ignore[arg-type]
    header = {"question": "agreement drop", "p0": p0, "p1": round(p0 - drop, 12), "alpha": alpha, "power": power,
              "alternative": alternative, "design": design}
    _print(header, rows, as_json, "power at n")


@plan_group.command(name="win-rate")
@click.option("--half-width", type=SHARE, required=True,
              help="The CI half-width wanted, as a share (0.03 = ±3 points).")
@click.option("--rate", type=SHARE, default=0.5, show_default=True,
              help="The win rate you expect (0.5 is the worst case: the most labels).")
@click.option("--correlation", type=click.FloatRange(-1.0, 1.0), default=None,
              help="Correlation of the judge's prediction with the human label, for PPI (from a pilot; the "
              "human-corrected auditor's notes print it).")
@click.option("--agreement", type=click.FloatRange(0.0, 1.0), default=None,
              help="Instead of --correlation: the judge's agreement rate with humans (binary labels).")
@click.option("--n-ai", type=click.IntRange(min=1), default=None,
              help="AI-only judged pairs available for PPI (default: unlimited, the best case).")
@click.option("--level", type=SHARE, default=0.95, show_default=True, help="Confidence level of the interval.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def win_rate_command(half_width: float, rate: float, correlation: float | None, agreement: float | None,
                     n_ai: int | None, level: float, as_json: bool) -> None:
    """Labels needed for a win-rate CI of a given half-width."""
    from rlaif_audit.auditing.power import correlation_from_agreement, win_rate_plan

    if correlation is not None and agreement is not None:
        raise click.UsageError("give --correlation or --agreement, not both")
    if agreement is not None:
        correlation = max(-1.0, correlation_from_agreement(agreement, rate))
    rows = win_rate_plan(half_width, rate, correlation, n_ai, level)
    header = {"question": "win-rate CI", "half_width": half_width, "rate": rate, "level": level,
              "correlation": None if correlation is None else round(correlation, 6), "n_ai": n_ai}
    _print(header, rows, as_json, "half-width at n")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the planning command."""
    cli.add_command(plan_group)
