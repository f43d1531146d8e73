"""`rlaif-audit label`: have an AI evaluator judge preference pairs in both orders."""

from __future__ import annotations

import sys
from typing import Any

import click

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError, RlaifAuditError
from rlaif_audit.judging.labeling import BATCH_TIMEOUT_S, plugin_call


def parse_options(values: tuple[str, ...]) -> dict[str, str]:
    """``("model=PATH", "batch_size=8")`` → ``{"model": "PATH", "batch_size": "8"}``."""
    options = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="-O/--option")
        options[key.strip()] = raw
    return options


@click.command(name="label")
@click.argument("data", required=False, default="demo")
@click.option("--evaluator", "-e", "evaluator_name", default="hf-judge", show_default=True,
              help="Evaluator plugin to judge with (see `rlaif-audit evaluators`).")
@click.option("-O", "--option", "option_values", multiple=True, metavar="KEY=VALUE",
              help="Evaluator option, repeatable, e.g. -O model=PATH -O template=FILE.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Judgments JSONL file; an existing file of the same evaluator is resumed.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Label only the first N pairs.")
@click.option("--ab-seed", "--seed", "ab_seed", type=int, default=0, show_default=True,
              help="Seed of the coin that decides which response is A (DATA with chosen/rejected); recorded on each "
              "judgment as ab_seed. --seed is an alias.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="On a bad input row: stop with a message (fail) or skip it and count it (skip).")
@click.option("--split", default="test", show_default=True, help="Split, for Hugging Face datasets.")
@click.option("--data-dir", default=None, help="data_dir, for Hugging Face datasets (e.g. harmless-base).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=BATCH_TIMEOUT_S, show_default=True,
              help="Seconds the evaluator may take on one batch of 64 items; its unanswered items are then written as "
              "failed judgments and labeling goes on (3 timed-out batches in a row stop it). 0: no limit.")
def command(data: str, evaluator_name: str, option_values: tuple[str, ...], output: str, limit: int | None,
            ab_seed: int, on_error: str, split: str, data_dir: str | None, quiet: bool, timeout_s: float) -> None:
    """Label preference pairs with an AI evaluator, in both orders (resumable)."""
    from rlaif_audit.data.judgment_file import write_identity
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.judging.labeling import label_pairs, raw_agreement

    options = parse_options(option_values)
    pair_set = read_pairs(data, seed=ab_seed, limit=limit, on_error=on_error, split=split, data_dir=data_dir)
    if not pair_set.pairs:
        raise ConfigError(f"{data}: no preference pairs to label")
    for warning in pair_set.warnings:
        click.echo(f"Warning: {warning}", err=True)
    evaluator, plugin = new_evaluator(evaluator_name, options)
    try:
        summary = label_pairs(evaluator, pair_set.pairs, output, ab_seed=pair_set.ab_seed, progress=not quiet,
                              timeout_s=timeout_s or None, plugin=plugin)
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted. Judgments so far are kept in {output}; run the same command to continue.", err=True)
        sys.exit(130)
    finally:
        close_evaluator(evaluator, plugin)
    identity = plugin_call(evaluator, plugin, "identity()", lambda: (evaluator.identity_hash(), evaluator.identity()))
    write_identity(output, evaluator.name, *identity)
    summary.skipped_rows = len(pair_set.skipped)
    summary.agreement = raw_agreement(output, pair_set.pairs, pair_set.labels)
    click.echo(f"evaluator: {evaluator.name} (identity {evaluator.identity_hash()})")
    placed = f"A/B seed {pair_set.ab_seed}" if pair_set.ab_seed is not None else "A and B as given"
    click.echo(f"data: {pair_set.source} (hash {summary.data_hash}, {placed})")
    for line in summary.lines():
        click.echo(line)
    click.echo(f"judgments written to {output}")
    if any(summary.problems.values()):
        click.echo(f"Warning: the evaluator '{evaluator.name}' misbehaved; see the counts above", err=True)


def new_evaluator(name: str, options: dict[str, str]) -> tuple[Any, str]:
    """The evaluator registered as ``name`` and the plugin that registered it; its constructor failing is that
    plugin's error (exit 1), a bad name or option the user's (exit 2)."""
    from rlaif_audit.host import evaluators
    from rlaif_audit.judging.labeling import EvaluatorFailed, one_line

    registry = evaluators()
    cls = registry.get(name)
    plugin = registry.items[name].plugin
    try:
        return cls(**options), plugin
    except RlaifAuditError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's failure, shown as one line
        raise EvaluatorFailed(name, plugin, f"creating it raised {one_line(exc)}") from exc


def close_evaluator(evaluator: Any, plugin: str) -> None:
    """``evaluator.close()``; a failure there is a warning (the judgments are written already)."""
    from rlaif_audit.judging.labeling import one_line

    try:
        evaluator.close()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's failure, shown as one line
        click.echo(f"Warning: evaluator '{evaluator.name}' (plugin {plugin}): close() raised {one_line(exc)}", err=True)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit label``."""
    cli.add_command(command)
