"""`rlaif-audit audit`: audit an AI evaluator's judgments against human labels and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

from rlaif_audit import hookimpl
from rlaif_audit.auditing.gates import (AnyGate, check_gates, finish_gates, parse_gates, refuse_point_estimate_gates,
                                       refuse_unknown_auditors, validate_against)
from rlaif_audit.auditing.protocols import PROTOCOLS
from rlaif_audit.reporting.text import metric_text

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import AuditContext
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.reporting.report import HeadlineRow, Report

OPTION_NAMES = {"fmt": "format", "compare_path": "compare", "auditor_names": "auditors",
                "report_format_names": "report_formats"}  # click parameter → option name
PROTOCOL_NAMES = list(PROTOCOLS)


# ------------------------------------------------------------------------------------------------------ running


def parse_auditor_names(text: str | None, pm: Any) -> list[str] | None:
    """``"agreement,position"`` → names; an unknown name is an error listing the valid ones."""
    from rlaif_audit.host import auditors

    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    registry = auditors(pm)
    for name in names:
        registry.get(name)
    return names


def make_context(inputs: AuditInputs, seed: int, n_bootstrap: int, options: dict[str, Any]) -> AuditContext:
    """The AuditContext of one judgments file."""
    from rlaif_audit.auditing.context import build_context

    return build_context(inputs, seed=seed, n_bootstrap=n_bootstrap, options=options)


def _metric_line(row: HeadlineRow) -> str:
    return f"  {row.key}: {metric_text(row)}"


def print_summary(report: Report, written: dict[str, Path]) -> None:
    """A few lines: what was audited, the headline numbers, what did not run, where the report is (names from the
    data and plugins with their terminal escapes, bidi and zero-width characters written out)."""
    from rlaif_audit.reporting.text import run_only_line, visible

    def echo(line: str, err: bool = False) -> None:
        click.echo(visible(line), err=err)

    evaluator, data = report.evaluator, report.data
    echo(f"evaluator: {evaluator.name} (identity {', '.join(evaluator.identity_hashes) or '—'})")
    echo(f"data: {data.source} ({data.n_pairs} pairs, {data.n_judgments} judgments, {data.n_labels} human labels)")
    echo("headline:")
    for row in report.headline:
        echo(_metric_line(row))
    not_run: dict[tuple[str, str], list[str]] = {}
    for name, outcome in report.not_ok_auditors():
        not_run.setdefault((outcome.status, str(outcome.reason)), []).append(name)
    for (status, reason), names in not_run.items():
        echo(f"{status}: {', '.join(names)} — {reason}")
    if report.run_only():
        echo(run_only_line(report))
    for err in report.report_errors:
        echo(f"Warning: report format {err.format} failed: {err.error}", err=True)
    main_file = next(iter(written.values())) if len(written) > 1 else None  # the most readable format written
    others = ", ".join(p.name for p in written.values() if p != main_file)
    echo(f"report: {main_file} (also {others})" if main_file else f"report files: {others}")


@click.command(name="audit")
@click.argument("judgments", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="The pairs the judgments judge (any `label` DATA: file, folder, "
              "hf://, demo); for FastChat judgments, the bench folder with question.jsonl and model_answer/.")
@click.option("--human", default=None, type=click.Path(dir_okay=False),
              help="Human labels instead of DATA's chosen/rejected: rlaif-audit labels (pair_id, preferred, "
              "annotator), FastChat MT-Bench human judgments, or AlpacaEval human annotations; several annotators "
              "per pair allowed.")
@click.option("--format", "fmt", default="auto", show_default=True, metavar="FORMAT",
              help="Format of JUDGMENTS: auto (told from the first record), rlaif (rlaif-audit JSONL) or a "
              "registered importer (built in: alpaca_eval for AlpacaEval annotations.json, fastchat for FastChat "
              "pairwise JSONL).")
@click.option("--compare", "compare_path", default=None, type=click.Path(dir_okay=False),
              help="A second evaluator's judgments of the same pairs (McNemar test against the first).")
@click.option("--auditors", "auditor_names", default=None,
              help="Comma-separated auditors to run (default: all; see `rlaif-audit auditors`).")
@click.option("--review-budget", type=click.IntRange(min=0), default=50, show_default=True,
              help="How many pairs to queue for human review (review_queue.jsonl).")
@click.option("--n-bootstrap", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Bootstrap resamples behind the confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resamples.")
@click.option("--ab-seed", type=int, default=None,
              help="The A/B seed (which response is A in DATA with chosen/rejected) [default: the one recorded in "
              "JUDGMENTS; for files without one, --seed]. Judgments whose A/B texts differ from DATA's are an error.")
@click.option("--protocol", type=click.Choice(PROTOCOL_NAMES), default="rlaif-audit", show_default=True,
              help="Agreement protocol: rlaif-audit (this tool's), alpaca-eval (AlpacaEval's Analyzer), mt-bench "
              "(FastChat compute_agreement.py: per vote, experts, S1/S2) or judgebench (both orders, net vote); "
              "adds that protocol's metrics to the agreement auditor (docs/audit.md).")
@click.option("--instruction-difficulty", "instruction_difficulty", default=None, type=click.Path(dir_okay=False),
              help="Instruction difficulties for AlpacaEval's length-controlled win rate (CSV/JSONL/Parquet: "
              "instruction or index, instruction_difficulty); without it the GLM has no difficulty term.")
@click.option("--tie-band", type=click.FloatRange(min=0.0, max=0.5, max_open=True), default=0.0, show_default=True,
              help="The judge's choice is a tie when its P(A) is within this distance of 0.5 (A above 0.5 + band, B "
              "below 0.5 - band); verdict-only pairs follow MT-Bench's rule whatever the band.")
@click.option("--ci-method", type=click.Choice(["percentile", "bca"]), default="percentile", show_default=True,
              help="Bootstrap interval: percentile, or bca (bias-corrected and accelerated, Efron 1987).")
@click.option("--batch-calibration", is_flag=True, help="Also report batch-calibrated probabilities "
              "(the mean position/label bias of the batch removed) in the calibration auditor.")
@click.option("--gate", "gates", multiple=True, metavar="AUDITOR.METRIC OP NUMBER",
              help="CI gate, repeatable, e.g. 'agreement.accuracy_without_ties>=0.6': exit 1 unless the whole 95% "
              "CI clears the threshold (append .value to compare the point estimate).")
@click.option("--fail-under", "fail_under", multiple=True, metavar="AUDITOR.METRIC=NUMBER",
              help="Short for --gate 'AUDITOR.METRIC>=NUMBER'.")
@click.option("--report-formats", "report_format_names", default=None,
              help="Comma-separated report formats to write (default: all registered: html, json, markdown).")
@click.option("--auditor-timeout", type=click.FloatRange(min=0.0), default=None, metavar="SECONDS",
              help="Time limit of each auditor; one that runs past it is recorded as 'error: timed out' and the "
                   "others still run (default 900; 0: no limit).")
@click.option("--title", default=None, help="Report title (default: names the evaluator).")
@click.option("--split", default="test", show_default=True, help="Split, when DATA is a Hugging Face dataset.")
@click.option("--data-dir", default=None, help="data_dir, when DATA is a Hugging Face dataset (e.g. harmless-base).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Report folder (report.html, report.md, report.json, review_queue.jsonl).")
def command(judgments: str, data: str | None, human: str | None, fmt: str, compare_path: str | None,
            auditor_names: str | None, review_budget: int, n_bootstrap: int, seed: int, ab_seed: int | None,
            protocol: str, instruction_difficulty: str | None, tie_band: float, ci_method: str,
            batch_calibration: bool,
            gates: tuple[str, ...], fail_under: tuple[str, ...], report_format_names: str | None,
            auditor_timeout: float | None, title: str | None,
            split: str, data_dir: str | None, output: str) -> None:
    """Audit an AI evaluator's judgments (agreement, position, calibration, length) and write a report."""
    from rlaif_audit.auditing.runner import DEFAULT_TIMEOUT_S, run_auditors
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.data.instruction_difficulty import read_instruction_difficulty
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import build_report, write_report

    pm = get_plugin_manager()
    parsed_gates, names, formats = check_choices(pm, gates, fail_under, auditor_names, report_format_names, fmt)
    where = {"data": data, "ab_seed": ab_seed, "seed": seed, "split": split, "data_dir": data_dir, "pm": pm}
    difficulty = read_instruction_difficulty(instruction_difficulty) if instruction_difficulty else None
    inputs = AuditInputs.from_file(judgments, fmt, **where)
    if human:
        inputs = inputs.with_human(human, pm)
    options = {"review_budget": review_budget, "tie_band": tie_band, "batch_calibration": batch_calibration,
               "source_format": inputs.format, "protocol": protocol, "instruction_difficulty": difficulty,
               "ci_method": ci_method}
    ctx = make_context(inputs, seed, n_bootstrap, options)
    compare_info = None
    if compare_path:
        other = inputs.compared(compare_path, fmt, **where)
        ctx.compare, compare_info = make_context(other, seed, n_bootstrap, options), _compare_info(other)
    for warning in inputs.warnings:
        click.echo(f"Warning: {warning}", err=True)
    config = audit_config(click.get_current_context().params, inputs.format, names, parsed_gates, inputs.ab_seed)
    timeout = DEFAULT_TIMEOUT_S if auditor_timeout is None else auditor_timeout
    report = build_report(ctx, run_auditors(ctx, pm, names, timeout), pairs=inputs.pairs, config=config,
                          data_source=inputs.source, data_hash=inputs.data_hash, judgments_path=inputs.judgments_path,
                          judgments_hash=inputs.judgments_hash, source_format=inputs.format, title=title or "",
                          warnings=inputs.warnings, compare=compare_info)
    validate_against(parsed_gates, report, "--gate", auditors_too=False)  # a misspelled metric: exit 2, nothing written
    report.gates = check_gates(parsed_gates, report)
    print_summary(report, write_report(report, output, pm, formats))
    finish_gates(report.gates)


def check_choices(pm: Any, gates: Sequence[str], fail_under: Sequence[str], auditor_names: str | None,
                  report_format_names: str | None,
                  fmt: str = "auto") -> tuple[list[AnyGate], list[str] | None, list[str] | None]:
    """Format, gates, auditor names and report formats, checked before any input is read (errors name the choices)."""
    from rlaif_audit.data.inputs import format_choices
    from rlaif_audit.host import auditors, report_formats

    choices = format_choices(pm)
    if fmt not in choices:
        raise click.BadParameter(f"{fmt!r} is not one of {', '.join(repr(c) for c in choices)}.",
                                 param_hint="'--format'")
    parsed_gates = parse_gates(gates, fail_under)
    names = parse_auditor_names(auditor_names, pm)
    refuse_point_estimate_gates(parsed_gates, declared_intervals(pm))
    refuse_unknown_auditors(parsed_gates, auditors(pm).names())
    formats = [f.strip() for f in report_format_names.split(",") if f.strip()] if report_format_names else None
    for name in formats or []:
        report_formats(pm).get(name)
    return parsed_gates, names, formats


def declared_intervals(pm: Any) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Auditor name → (metrics it reports without an interval, the metrics with intervals it offers instead)."""
    from rlaif_audit.auditing.runner import declarations
    from rlaif_audit.host import auditors

    registry = auditors(pm)
    return {name: (declarations(registry.get(name)).point_estimates, declarations(registry.get(name)).inferential)
            for name in registry.names()}


def audit_config(params: dict[str, Any], resolved: str, names: list[str] | None, gates: list[AnyGate],
                 ab_seed: int | None = None) -> dict[str, Any]:
    """The settings recorded in report.json (and hashed): the options, the resolved format and A/B seed (given or
    read from the judgments), the command line."""
    config = {"command": reproduce_command(params)}
    config.update({OPTION_NAMES.get(key, key): value for key, value in params.items()
                   if key not in ("fail_under", "auditor_timeout")})  # neither changes a number
    config.update(format=resolved, auditors=names, gates=[gate.text for gate in gates], ab_seed=ab_seed)
    return config


def _compare_info(other: AuditInputs) -> dict[str, Any]:
    from rlaif_audit.reporting.builder import evaluator_section

    return {"judgments": {"path": other.judgments_path, "hash": other.judgments_hash},
            "evaluator": evaluator_section(other.judgments), "n_pairs": len(other.pairs)}


def reproduce_command(params: dict[str, Any]) -> str:
    """The ``rlaif-audit audit`` command line that reproduces this report (from the parsed options)."""
    import shlex

    words = ["rlaif-audit", "audit", shlex.quote(str(params["judgments"]))]
    for name, value in params.items():
        flag = "--" + {**OPTION_NAMES, "gates": "gate"}.get(name, name).replace("_", "-")
        if name == "judgments" or value is None or value is False or value == ():
            continue
        for item in value if isinstance(value, tuple) else [value]:
            words += [flag] if item is True else [flag, shlex.quote(str(item))]
    return " ".join(words)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit audit``."""
    cli.add_command(command)
