"""`rlaif-audit probe-suites` and `rlaif-audit probe`: list the probe suites; judge them and score the evaluator."""

from __future__ import annotations

import json
import sys

import click

from rlaif_audit import hookimpl


@click.command(name="probe-suites")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def probe_suites_command(as_json: bool) -> None:
    """List probe suites: name, version, pairs, hash and probe kinds."""
    from rlaif_audit.host import get_plugin_manager, probe_suites

    registry = probe_suites(get_plugin_manager())
    rows = [{**registry.items[name].cls.summary(), "plugin": registry.items[name].plugin} for name in registry.names()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']} v{row['version']}: {row['n_pairs']} pairs, hash {row['hash']}, kinds "
                   f"{', '.join(row['kinds'])}")
        click.echo(f"    {row['description']}")


@click.command(name="probe")
@click.option("--evaluator", "-e", "evaluator_name", default="hf-judge", show_default=True,
              help="Evaluator plugin to judge with (see `rlaif-audit evaluators`).")
@click.option("-O", "--option", "option_values", multiple=True, metavar="KEY=VALUE",
              help="Evaluator option, repeatable, e.g. -O model=PATH -O template=FILE.")
@click.option("--suite", "suite_names", multiple=True,
              help="Probe suite to judge, repeatable (see `rlaif-audit probe-suites`); default: every registered one.")
@click.option("--anchor-data", default=None, help="Human-labeled DATA (any format `label` reads) added as the "
              "human-anchors suite, expected = the human majority.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N pairs of --anchor-data.")
@click.option("--ab-seed", type=int, default=0, show_default=True,
              help="Seed of the coin placing chosen/rejected of --anchor-data in A and B (as `label --ab-seed`).")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Judgments JSONL file (resumed if it exists); the probe pairs go beside it as <stem>.pairs.jsonl.")
@click.option("--json", "as_json", is_flag=True, help="Print the probe scores as JSON instead of text.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def probe_command(evaluator_name: str, option_values: tuple[str, ...], suite_names: tuple[str, ...],
                  anchor_data: str | None, limit: int | None, ab_seed: int, output: str, as_json: bool,
                  quiet: bool) -> None:
    """Judge probe suites in both orders and print the evaluator's probe scores (resumable)."""
    from rlaif_audit.commands.label import parse_options
    from rlaif_audit.host import get_plugin_manager, make_evaluator
    from rlaif_audit.judging.probes import (anchor_suite, judge_probes, pairs_path, probe_scores, resolve_suites,
                                            score_lines, suite_pairs)

    if limit is not None and anchor_data is None:
        raise click.UsageError("--limit needs --anchor-data")
    pm = get_plugin_manager()
    suites = resolve_suites(pm, suite_names)
    labels = []
    if anchor_data is not None:
        anchors, labels = anchor_suite(anchor_data, limit=limit, seed=ab_seed)
        suites.append(anchors)
    evaluator = make_evaluator(evaluator_name, parse_options(option_values), pm)
    try:
        judge_probes(pm, evaluator, suites, output, labels=labels, progress=not quiet)
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted. Judgments so far are kept in {output}; run the same command to continue.", err=True)
        sys.exit(130)
    finally:
        evaluator.close()
    scores = probe_scores(output, suite_pairs(suites))
    if as_json:
        click.echo(json.dumps([score.to_dict() for score in scores], indent=2))
        return
    click.echo(f"evaluator: {evaluator.name} (identity {evaluator.identity_hash()})")
    for suite in suites:
        click.echo(f"suite: {suite.name} v{suite.version} ({len(suite.pairs)} pairs, hash {suite.hash})")
    for line in score_lines(scores):
        click.echo(line)
    click.echo(f"judgments written to {output}; pairs in {pairs_path(output)} (audit with --data)")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit probe-suites`` and ``rlaif-audit probe``."""
    cli.add_command(probe_suites_command)
    cli.add_command(probe_command)
