"""`rlaif-audit drift`: has the evaluator changed? Two judgment files of the same pairs compared (exit 1 on drift)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

from rlaif_audit import hookimpl
from rlaif_audit.commands.label import parse_options
from rlaif_audit.errors import ConfigError

if TYPE_CHECKING:
    from rlaif_audit.auditing.drift import DriftResult
    from rlaif_audit.records.types import HumanLabel, PreferencePair

RESULT_FILE = "drift.json"
RESCORED = ("old.jsonl", "new.jsonl")


def rescore_pairs(data: str, evaluators: Sequence[tuple[str, dict[str, str]]], folder: Path, ab_seed: int,
                  limit: int | None, split: str, data_dir: str | None,
                  quiet: bool) -> tuple[list[Path], list[dict[str, Any]]]:
    """Label DATA's pairs with each evaluator configuration into ``folder``; the files and the identities."""
    from rlaif_audit.data.judgment_file import write_identity
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.host import make_evaluator
    from rlaif_audit.judging.labeling import label_pairs

    pair_set = read_pairs(data, seed=ab_seed, limit=limit, split=split, data_dir=data_dir)
    pairs = pair_set.pairs
    if not pairs:
        raise ConfigError(f"{data}: no preference pairs to re-score")
    paths, identities = [], []
    for (name, options), file_name in zip(evaluators, RESCORED):
        evaluator = make_evaluator(name, options)
        try:
            path = folder / file_name
            label_pairs(evaluator, pairs, path, ab_seed=pair_set.ab_seed, progress=not quiet)
            identities.append(evaluator.identity())
            write_identity(path, evaluator.name, evaluator.identity_hash(), identities[-1])
            paths.append(path)
        finally:
            evaluator.close()
    return paths, identities


def recorded_seed(judgments_path: str) -> int:
    """The A/B seed a judgments file records (0, `label`'s default, when it records none)."""
    from rlaif_audit.data.judgment_file import parse_judgments
    from rlaif_audit.data.validation import recorded_ab_seed

    frame, lines = parse_judgments(judgments_path)
    seed = recorded_ab_seed(frame, judgments_path, lines) if len(frame) else None
    return 0 if seed is None else seed


def read_data(data: str | None, human: str | None, seed: int, split: str,
              data_dir: str | None) -> tuple[list[PreferencePair] | None, list[HumanLabel]]:
    """The pairs of ``--data`` (or ``--rescore``, A/B coin of ``seed``) and the human labels: ``--human``'s, else
    DATA's own."""
    from rlaif_audit.data.inputs import human_label_reader
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.host import importers

    if data is None:
        if human:
            raise click.UsageError("--human needs --data (or --rescore): the pairs the labels are for")
        return None, []
    pair_set = read_pairs(data, seed=seed, split=split, data_dir=data_dir)
    if not human:
        return pair_set.pairs, list(pair_set.labels)
    labels, warnings = human_label_reader(human, importers())(human, pair_set.pairs)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    return pair_set.pairs, list(labels)


def table_lines(result: DriftResult) -> list[str]:
    """The printed table: drift statistics, each bias metric old → new with its paired change, identity changes."""
    from rlaif_audit.reporting.text import fmt_ci, fmt_number

    lines = [f"{'metric':<26} {'value':>8}  {'95% CI':<18} n"]
    for name, metric in result.metrics.items():
        lines.append(f"{name:<26} {fmt_number(metric.value):>8}  {fmt_ci(metric.ci):<18} {metric.n}")
    if result.bias_changes:
        lines += ["", f"{'bias metric':<26} {'old':>8} {'new':>8} {'change':>8}  95% CI (paired)"]
        for change in result.bias_changes:
            lines.append(f"{change.name:<26} {fmt_number(change.old.value):>8} {fmt_number(change.new.value):>8} "
                         f"{fmt_number(change.change.value):>8}  {fmt_ci(change.change.ci)}")
    lines += ["", f"identity: {len(result.identity_changes)} field(s) differ"]
    lines += [f"  {c.field}: {json.dumps(c.old, default=str)} → {json.dumps(c.new, default=str)}"
              for c in result.identity_changes]
    return lines + ["", result.message]


@click.command(name="drift")
@click.argument("old", required=False, type=click.Path(dir_okay=False))
@click.argument("new", required=False, type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="The pairs both files judge (any `label` DATA); adds the length and list "
              "metrics, and agreement when DATA carries human labels.")
@click.option("--human", default=None, type=click.Path(dir_okay=False),
              help="Human labels of the pairs (any `audit --human` format), for the change in agreement.")
@click.option("--rescore", default=None, help="Instead of OLD and NEW: judge this DATA (e.g. a probe suite file) with "
              "--evaluator-a and --evaluator-b, then compare.")
@click.option("--evaluator-a", "evaluator_a", default="hf-judge", show_default=True,
              help="With --rescore: the OLD evaluator plugin.")
@click.option("-A", "--option-a", "options_a", multiple=True, metavar="KEY=VALUE",
              help="With --rescore: an option of the OLD evaluator, repeatable (as `label -O`).")
@click.option("--evaluator-b", "evaluator_b", default=None,
              help="With --rescore: the NEW evaluator plugin (default: the same as --evaluator-a).")
@click.option("-B", "--option-b", "options_b", multiple=True, metavar="KEY=VALUE",
              help="With --rescore: an option of the NEW evaluator, repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="With --rescore: judge only the first N pairs of DATA.")
@click.option("--max-flip-rate", type=click.FloatRange(min=0.0, max=1.0), default=0.0, show_default=True,
              help="Drift when the verdict flip rate or the pair-decision flip rate exceeds this (0: any flip).")
@click.option("--tie-band", type=click.FloatRange(min=0.0, max=0.5, max_open=True), default=0.0, show_default=True,
              help="A pair's decision is a tie when its P(A) is within this distance of 0.5.")
@click.option("--n-bootstrap", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Bootstrap resamples (pairs) behind the confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resamples.")
@click.option("--ab-seed", type=int, default=None,
              help="The A/B seed (which response is A in DATA with chosen/rejected) [default: the one OLD records; "
              "with --rescore, 0]. Judgments whose A/B texts differ from DATA's are an error.")
@click.option("--split", default="test", show_default=True, help="Split, when DATA is a Hugging Face dataset.")
@click.option("--data-dir", default=None, help="data_dir, when DATA is a Hugging Face dataset.")
@click.option("-o", "--output", default=None, type=click.Path(file_okay=False),
              help="Folder for drift.json (and, with --rescore, old.jsonl and new.jsonl with their identities).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar while re-scoring.")
def command(old: str | None, new: str | None, data: str | None, human: str | None, rescore: str | None,
            evaluator_a: str, options_a: tuple[str, ...], evaluator_b: str | None, options_b: tuple[str, ...],
            limit: int | None, max_flip_rate: float, tie_band: float, n_bootstrap: int, seed: int,
            ab_seed: int | None, split: str,
            data_dir: str | None, output: str | None, as_json: bool, quiet: bool) -> None:
    """Compare an evaluator's judgments of the same pairs across versions (exit 1 on drift, 2 on bad input)."""
    from rlaif_audit.auditing.drift import check_drift
    from rlaif_audit.records.fileio import atomic_write_json

    if rescore and (old or new):
        raise click.UsageError("give OLD and NEW judgment files, or --rescore DATA, not both")
    if not rescore and not (old and new):
        raise click.UsageError("give OLD and NEW judgment files, or --rescore DATA with --evaluator-a/--evaluator-b")
    identities: list[Any] = [None, None]
    with tempfile.TemporaryDirectory(prefix="rlaif-drift-") as scratch:
        if rescore:
            folder = Path(output) if output else Path(scratch)
            folder.mkdir(parents=True, exist_ok=True)
            configs = [(evaluator_a, parse_options(options_a)), (evaluator_b or evaluator_a, parse_options(options_b))]
            ab_seed = 0 if ab_seed is None else ab_seed
            (old_path, new_path), identities = rescore_pairs(rescore, configs, folder, ab_seed, limit, split,
                                                             data_dir, quiet)
            old, new, data = str(old_path), str(new_path), rescore
        assert old is not None and new is not None
        coin = ab_seed if ab_seed is not None or data is None else recorded_seed(old)
        pairs, labels = read_data(data, human, 0 if coin is None else coin, split, data_dir)
        result = check_drift(old, new, *identities, pairs=pairs, labels=labels, max_flip_rate=max_flip_rate,
                             tie_band=tie_band, seed=seed, n_bootstrap=n_bootstrap)
    if output:
        Path(output).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(output) / RESULT_FILE, result.to_dict())
    click.echo(json.dumps(result.to_dict(), indent=2, default=str) if as_json else "\n".join(table_lines(result)))
    if result.drifted:
        sys.exit(1)



@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit drift``."""
    cli.add_command(command)
