"""`rlaif-audit propagation`: several generations' judgments of the same probe pairs → the propagation report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from rlaif_audit import hookimpl

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import AuditContext

AUDITOR = "propagation"


def write_propagation_report(ctx: AuditContext, config: dict[str, Any], output: str, title: str,
                             data_source: str, data_hash: str = "") -> None:
    """Run the propagation auditor through the normal runner and report builder; print the verdicts."""
    from rlaif_audit.auditing.runner import run_auditors
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import build_report, write_report

    pm = get_plugin_manager()
    outcomes = run_auditors(ctx, pm, [AUDITOR])
    report = build_report(ctx, outcomes, config=config, data_source=data_source, data_hash=data_hash, title=title)
    written = write_report(report, output, pm)
    outcome = outcomes[AUDITOR]
    if outcome.status != "ok":
        raise click.ClickException(f"propagation auditor {outcome.status}: {outcome.reason or outcome.error}")
    print_verdicts(outcome.tables["verdicts"], outcome.metrics)
    click.echo(f"report: {next(iter(written.values()))}")


def print_verdicts(rows: list[dict[str, Any]], metrics: dict[str, Any]) -> None:
    """One line per bias: slope per generation [CI], minimum detectable change, verdict; then inherited error."""
    from rlaif_audit.reporting.text import fmt_short

    for row in rows:
        click.echo(f"  {row['measure']}: slope {fmt_short(row['slope'])}/generation [95% CI {fmt_short(row['ci_low'])}, "
                   f"{fmt_short(row['ci_high'])}], p_BH {fmt_short(row['p_adjusted'])}, detectable change "
                   f"{fmt_short(row['min_detectable_change'])} → {row['verdict']}")
    odds = metrics.get("inherited_error_odds_ratio")
    if odds is not None and odds.value is not None:
        low, high = odds.ci or (None, None)
        click.echo(f"  inherited error: odds ratio {fmt_short(odds.value)} [95% CI {fmt_short(low)}, "
                   f"{fmt_short(high)}] (Mantel–Haenszel over consecutive generations)")


@click.command(name="propagation")
@click.argument("judgments", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--data", required=True, help="The probe pairs every generation judged (a pairs JSONL with "
              "metadata probe_kind, expected and, on self-preference probes, own).")
@click.option("--reference", default=None, type=click.Path(dir_okay=False),
              help="The pinned reference evaluator's judgments of the same probes (self-preference excess against it).")
@click.option("--n-bootstrap", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Bootstrap resamples of the probes behind every CI.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the bootstrap.")
@click.option("--tie-band", type=click.FloatRange(min=0.0, max=0.5, max_open=True), default=0.0, show_default=True,
              help="A choice is a tie when its P(A) is within this distance of 0.5.")
@click.option("--stable-margin", type=click.FloatRange(min=0.0, min_open=True), default=0.05, show_default=True,
              help="A bias with no significant change is 'stable' when its minimum detectable last − gen-0 change "
              "is at most this; otherwise 'inconclusive'.")
@click.option("--title", default=None, help="Report title.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Report folder.")
def command(judgments: tuple[str, ...], data: str, reference: str | None, n_bootstrap: int, seed: int,
            tie_band: float, stable_margin: float, title: str | None, output: str) -> None:
    """Measure bias propagation across generations: JUDGMENTS are gen-0, gen-1, ... judgments of the probes."""
    if len(judgments) < 2:
        raise click.UsageError("give at least two judgment files (generation 0 and 1, in order)")
    from rlaif_audit.auditing.probe_set import propagation_context, read_generations  # numpy: not at --help

    inputs, first = read_generations(data, judgments, reference, stable_margin)
    ctx = propagation_context(first.judgments, first.pairs, inputs, seed, n_bootstrap, tie_band)
    config = {"command": "rlaif-audit propagation", "judgments": list(judgments), "reference": reference,
              "n_bootstrap": n_bootstrap, "seed": seed, "tie_band": tie_band, "stable_margin": stable_margin}
    write_propagation_report(ctx, config, output, title or f"Bias propagation over {len(judgments)} generations",
                             data, first.data_hash)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit propagation``."""
    cli.add_command(command)
