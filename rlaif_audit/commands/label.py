"""`rlaif-audit label`: have an AI evaluator judge preference pairs in both orders."""

from __future__ import annotations

import sys

import click

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError


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
def command(data: str, evaluator_name: str, option_values: tuple[str, ...], output: str, limit: int | None,
            ab_seed: int, on_error: str, split: str, data_dir: str | None, quiet: bool) -> None:
    """Label preference pairs with an AI evaluator, in both orders (resumable)."""
    from rlaif_audit.host import make_evaluator
    from rlaif_audit.judging.labeling import label_pairs, raw_agreement
    from rlaif_audit.data.judgment_file import write_identity
    from rlaif_audit.data.pairs import read_pairs

    options = parse_options(option_values)
    pair_set = read_pairs(data, seed=ab_seed, limit=limit, on_error=on_error, split=split, data_dir=data_dir)
    if not pair_set.pairs:
        raise ConfigError(f"{data}: no preference pairs to label")
    for warning in pair_set.warnings:
        click.echo(f"Warning: {warning}", err=True)
    evaluator = make_evaluator(evaluator_name, options)
    try:
        summary = label_pairs(evaluator, pair_set.pairs, output, ab_seed=pair_set.ab_seed,
                              progress=not quiet)
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted. Judgments so far are kept in {output}; run the same command to continue.", err=True)
        sys.exit(130)
    finally:
        evaluator.close()
    write_identity(output, evaluator.name, evaluator.identity_hash(), evaluator.identity())
    summary.skipped_rows = len(pair_set.skipped)
    summary.agreement = raw_agreement(output, pair_set.pairs, pair_set.labels)
    click.echo(f"evaluator: {evaluator.name} (identity {evaluator.identity_hash()})")
    placed = f"A/B seed {pair_set.ab_seed}" if pair_set.ab_seed is not None else "A and B as given"
    click.echo(f"data: {pair_set.source} (hash {summary.data_hash}, {placed})")
    for line in summary.lines():
        click.echo(line)
    click.echo(f"judgments written to {output}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit label``."""
    cli.add_command(command)
