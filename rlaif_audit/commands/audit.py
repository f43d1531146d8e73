"""`rlaif-audit audit`: audit an AI evaluator's judgments against human labels and write the report."""

from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

from rlaif_audit import hookimpl
from rlaif_audit.errors import InputError
from rlaif_audit.data.external import Imported

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.records.types import PreferencePair

FORMAT_CHOICES = ("auto", "rlaif", "alpaca_eval", "fastchat")
NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
GATE_PATTERN = re.compile(rf"^\s*(?P<metric>[^<>=\s]+)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>{NUMBER})\s*$")
OPERATORS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<=": operator.le,
                                                         "<": operator.lt}
BOUNDS = ("value", "ci_low", "ci_high")
OPTION_NAMES = {"fmt": "format", "compare_path": "compare", "auditor_names": "auditors",
                "report_format_names": "report_formats"}  # click parameter → option name


# ------------------------------------------------------------------------------------------------------- gates


@dataclass(frozen=True)
class Gate:
    """One CI gate: ``auditor.metric[.bound] op threshold``."""

    text: str
    auditor: str
    metric: str
    bound: str
    op: str
    threshold: float

    def check(self, report: dict[str, Any]) -> dict[str, Any]:
        """``{"gate", "passed", "message"}`` for this gate on a built report."""
        result = (report.get("auditors") or {}).get(self.auditor)
        if result is None or result.get("status") != "ok":
            why = "it did not run" if result is None else f"{result.get('status')}: {result.get('reason')}"
            return self._outcome(False, f"not measured — auditor '{self.auditor}' {why}")
        metric = (result.get("metrics") or {}).get(self.metric)
        if metric is None:
            names = ", ".join(sorted(result.get("metrics") or {})) or "(none)"
            return self._outcome(False, f"auditor '{self.auditor}' has no metric '{self.metric}'. Available: {names}")
        return self._compare(metric)

    def _compare(self, metric: dict[str, Any]) -> dict[str, Any]:
        ci = metric.get("ci") or [None, None]
        compared = {"value": metric.get("value"), "ci_low": ci[0], "ci_high": ci[1]}[self.bound]
        shown = f"value {_num(metric.get('value'))}, 95% CI [{_num(ci[0])}, {_num(ci[1])}], n={metric.get('n')}"
        if compared is None:
            return self._outcome(False, f"{shown}: its {self.bound} is not available")
        passed = OPERATORS[self.op](float(compared), self.threshold)
        side = "lower" if self.bound == "ci_low" else "upper"
        what = "" if self.bound == "value" else f" (compared: the CI's {side} bound)"
        return self._outcome(passed, f"{shown}{what}")

    def _outcome(self, passed: bool, detail: str) -> dict[str, Any]:
        verdict = "passed" if passed else "FAILED"
        return {"gate": self.text, "passed": passed, "message": f"{self.text}: {verdict} — {detail}"}


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4g}"


def parse_gate(text: str) -> Gate:
    """``agreement.accuracy_without_ties>=0.6`` → a :class:`Gate`.

    ``AUDITOR.METRIC OP NUMBER`` with OP in ``>=``, ``>``, ``<=``, ``<``. By default the gate compares the side of
    the 95% CI that has to clear the threshold (the lower bound for ``>=``/``>``, the upper bound for
    ``<=``/``<``), so it passes only when the whole interval is on the right side; a ``.value``, ``.ci_low`` or
    ``.ci_high`` suffix on the metric compares that instead. A metric that was not measured fails.
    """
    match = GATE_PATTERN.match(text)
    if not match or "." not in match["metric"]:
        raise click.BadParameter(f"expected AUDITOR.METRIC OP NUMBER (OP: >=, >, <=, <), got {text!r}",
                                 param_hint="--gate")
    parts = match["metric"].split(".")
    default_bound = "ci_low" if match["op"] in (">=", ">") else "ci_high"
    bound = parts.pop() if len(parts) > 2 and parts[-1] in BOUNDS else default_bound
    return Gate(text.strip(), parts[0], ".".join(parts[1:]), bound, match["op"], float(match["threshold"]))


def parse_gates(gates: Sequence[str], fail_under: Sequence[str]) -> list[Gate]:
    """All gates from ``--gate`` and ``--fail-under METRIC=NUMBER``."""
    parsed = [parse_gate(text) for text in gates]
    for text in fail_under:
        metric, sep, threshold = text.partition("=")
        if not sep:
            raise click.BadParameter(f"expected AUDITOR.METRIC=NUMBER, got {text!r}", param_hint="--fail-under")
        parsed.append(parse_gate(f"{metric.strip()}>={threshold.strip()}"))
    return parsed


# ------------------------------------------------------------------------------------------------------ inputs


def resolve_format(path: str, fmt: str) -> str:
    """The judgments file's format: ``fmt`` unless it is ``auto``; an error when it is not judgments."""
    from rlaif_audit.data.external import detect_format

    detected = detect_format(path)
    if fmt == "auto":
        if detected not in ("rlaif", "alpaca_eval", "fastchat"):
            raise InputError(path, f"looks like {detected.replace('_', ' ')} (human labels), not judgments; pass it "
                             "with --human")
        return detected
    if detected != fmt and detected in FORMAT_CHOICES:
        raise InputError(path, f"--format {fmt} was given but the file looks like {detected} judgments")
    return fmt


def _line_of(path: str, pair_ids: set[str], key: str) -> int | None:
    """The first line of a JSONL judgments file whose ``key`` is in ``pair_ids``."""
    import json

    with open(path, encoding="utf-8") as handle:
        for line_no, text in enumerate(handle, start=1):
            try:
                value = json.loads(text).get(key) if text.strip() else None
            except (ValueError, AttributeError):
                continue
            if value is not None and str(value) in pair_ids:
                return line_no
    return None


def check_one_evaluator(path: str, judgments: pd.DataFrame) -> None:
    """A judgments file must hold one evaluator identity; mixing two is an error naming both."""
    ids = [i for i in judgments["evaluator_id"].dropna().unique() if i != ""]
    if len(ids) <= 1:
        return
    names = judgments.drop_duplicates("evaluator_id").set_index("evaluator_id")["evaluator"]
    shown = ", ".join(f"{names.get(i)} ({i})" for i in ids[:4])
    line = _line_of(path, {str(p) for p in judgments.loc[judgments["evaluator_id"] == ids[1], "pair_id"]}, "pair_id")
    raise InputError(path, f"mixes judgments of {len(ids)} evaluator identities: {shown}; audit one evaluator per "
                     "file (use --compare for a second one)", line=line, field="evaluator_id")


def check_known_pairs(path: str, judgments: pd.DataFrame, pairs: Sequence[PreferencePair], data: str) -> None:
    """Every judged pair id must be in DATA; an error names the first unknown id and its line."""
    known = {pair.id for pair in pairs}
    unknown = sorted(set(judgments["pair_id"].astype(str)) - known)
    if unknown:
        preview = ", ".join(repr(u) for u in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise InputError(path, f"{len(unknown)} judged pair id(s) are not in {data}: {preview} — is --data the "
                         "data these judgments were labeled from (same --seed, --split)?",
                         line=_line_of(path, set(unknown), "pair_id"), field="pair_id")


def order_warnings(judgments: pd.DataFrame) -> list[str]:
    """A warning when some pairs were judged in one order only."""
    ok = judgments[judgments["parse_status"] == "ok"]
    orders = ok.groupby("pair_id")["order"].nunique()
    single = int((orders < 2).sum()) + len(set(judgments["pair_id"]) - set(ok["pair_id"]))
    if single == 0:
        return []
    return [f"{single} of {judgments['pair_id'].nunique()} pairs lack a usable judgment in both orders; their "
            "position-debiased preference is undefined"]


def _rlaif_inputs(path: str, data: str | None, seed: int, split: str, data_dir: str | None) -> Imported:
    from rlaif_audit.data.judgment_file import read_judgments
    from rlaif_audit.data.readers import pair_warnings, read_pairs, skip_warnings

    judgments = read_judgments(path)
    check_one_evaluator(path, judgments)
    if data is None:
        raise click.UsageError("--data is required with rlaif-audit judgments: the pairs they judge (the DATA "
                               "given to `rlaif-audit label`)")
    pair_set = read_pairs(data, seed=seed, split=split, data_dir=data_dir)
    check_known_pairs(path, judgments, pair_set.pairs, pair_set.source)
    judged = set(judgments["pair_id"].astype(str))
    pairs = [pair for pair in pair_set.pairs if pair.id in judged]
    labels = [label for label in pair_set.labels if label.pair_id in judged]
    return Imported(pairs, judgments, labels, "rlaif", pair_set.source, pair_set.data_hash,
                    pair_warnings(pairs) + skip_warnings(pair_set.skipped) + order_warnings(judgments))


def load_inputs(path: str, fmt: str, data: str | None, seed: int, split: str, data_dir: str | None) -> Imported:
    """Read the judgments in any supported format with their pairs and labels, validated."""
    from rlaif_audit.data.external import read_external

    if fmt == "rlaif":
        inputs = _rlaif_inputs(path, data, seed, split, data_dir)
    else:
        imported = read_external(path, fmt, data)
        inputs = Imported(imported.pairs, imported.judgments, imported.labels, fmt, imported.source,
                          imported.data_hash, imported.warnings + _one_order_note(fmt, imported.judgments))
    inputs.judgments.attrs["path"] = path  # later validation errors name the file
    return inputs


def _one_order_note(fmt: str, judgments: pd.DataFrame) -> list[str]:
    if fmt == "alpaca_eval":
        return ["AlpacaEval annotations keep one un-swapped verdict per pair (the order shown is not recorded): "
                "position auditors are skipped and the judge's preference is not position-debiased"]
    return order_warnings(judgments)


def apply_human(inputs: Imported, human: str) -> None:
    """Replace the labels with those of ``--human`` (rlaif, FastChat or AlpacaEval format) for the judged pairs."""
    from rlaif_audit.data.external import read_external_human

    labels, warnings = read_external_human(human, inputs.pairs)
    judged = {pair.id for pair in inputs.pairs}
    matched = [label for label in labels if label.pair_id in judged]
    if not matched:
        raise InputError(human, f"none of its {len(labels)} labels names a judged pair (pair ids such as "
                         f"{', '.join(repr(p.id) for p in inputs.pairs[:2])})", field="pair_id")
    if len(matched) < len(labels):
        warnings.append(f"{len(labels) - len(matched)} labels in {human} are for pairs that were not judged")
    inputs.labels = matched
    inputs.warnings += warnings


def load_compare(path: str, fmt: str, main: Imported, data: str | None, seed: int, split: str,
                 data_dir: str | None) -> Imported:
    """The second evaluator's judgments (``--compare``), on the same pairs as the main ones."""
    compare_fmt = resolve_format(path, fmt if fmt != "auto" else "auto")
    other = load_inputs(path, compare_fmt, data, seed, split, data_dir)
    known = {pair.id for pair in main.pairs}
    shared = [pair for pair in other.pairs if pair.id in known]
    if not shared:
        raise InputError(path, "judges none of the pairs of the main judgments file; --compare needs judgments "
                         "of the same pairs", field="pair_id")
    other.pairs = shared
    other.judgments = other.judgments[other.judgments["pair_id"].astype(str).isin(known)]
    other.labels = [label for label in main.labels if label.pair_id in {p.id for p in shared}]
    return other


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


def make_context(inputs: Imported, seed: int, n_bootstrap: int, options: dict[str, Any]) -> Any:
    """The AuditContext of one judgments file."""
    from rlaif_audit.auditing.context import build_context

    return build_context(inputs.judgments, inputs.pairs, inputs.labels, seed=seed, n_bootstrap=n_bootstrap,
                         options=options)


def _metric_line(row: dict[str, Any]) -> str:
    ci = row.get("ci") or [None, None]
    return f"  {row.get('key')}: {_num(row.get('value'))} [95% CI {_num(ci[0])}, {_num(ci[1])}] n={row.get('n')}"


def print_summary(report: dict[str, Any], written: dict[str, Path]) -> None:
    """A few lines: what was audited, the headline numbers, what did not run, where the report is."""
    evaluator, data = report["evaluator"], report["data"]
    click.echo(f"evaluator: {evaluator['name']} (identity {', '.join(evaluator['identity_hashes']) or '—'})")
    click.echo(f"data: {data['source']} ({data['n_pairs']} pairs, {data['n_judgments']} judgments, "
               f"{data['n_labels']} human labels)")
    click.echo("headline:")
    for row in report["headline"]:
        click.echo(_metric_line(row))
    not_run: dict[tuple[str, str], list[str]] = {}
    for name, result in report["auditors"].items():
        if result["status"] != "ok":
            not_run.setdefault((result["status"], str(result.get("reason"))), []).append(name)
    for (status, reason), names in not_run.items():
        click.echo(f"{status}: {', '.join(names)} — {reason}")
    for err in report.get("report_errors") or []:
        click.echo(f"Warning: report format {err['format']} failed: {err['error']}", err=True)
    main_file = written.get("html") or written.get("markdown") or written.get("json")
    others = ", ".join(p.name for k, p in written.items() if p != main_file)
    click.echo(f"report: {main_file} (also {others})" if main_file else f"report files: {others}")


@click.command(name="audit")
@click.argument("judgments", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="The pairs the judgments judge (any `label` DATA: file, folder, "
              "hf://, demo); for FastChat judgments, the bench folder with question.jsonl and model_answer/.")
@click.option("--human", default=None, type=click.Path(dir_okay=False),
              help="Human labels instead of DATA's chosen/rejected: rlaif-audit labels (pair_id, preferred, "
              "annotator), FastChat MT-Bench human judgments, or AlpacaEval human annotations; several annotators "
              "per pair allowed.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True,
              help="Format of JUDGMENTS: rlaif-audit JSONL, AlpacaEval annotations.json, FastChat pairwise JSONL.")
@click.option("--compare", "compare_path", default=None, type=click.Path(dir_okay=False),
              help="A second evaluator's judgments of the same pairs (McNemar test against the first).")
@click.option("--auditors", "auditor_names", default=None,
              help="Comma-separated auditors to run (default: all; see `rlaif-audit auditors`).")
@click.option("--review-budget", type=click.IntRange(min=0), default=50, show_default=True,
              help="How many pairs to queue for human review (review_queue.jsonl).")
@click.option("--n-bootstrap", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Bootstrap resamples behind the confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The --seed given to `rlaif-audit label` (which response is A in DATA); also seeds the bootstrap.")
@click.option("--batch-calibration", is_flag=True, help="Also report batch-calibrated probabilities "
              "(the mean position/label bias of the batch removed) in the calibration auditor.")
@click.option("--gate", "gates", multiple=True, metavar="AUDITOR.METRIC OP NUMBER",
              help="CI gate, repeatable, e.g. 'agreement.accuracy_without_ties>=0.6': exit 1 unless the whole 95% "
              "CI clears the threshold (append .value to compare the point estimate).")
@click.option("--fail-under", "fail_under", multiple=True, metavar="AUDITOR.METRIC=NUMBER",
              help="Short for --gate 'AUDITOR.METRIC>=NUMBER'.")
@click.option("--report-formats", "report_format_names", default=None,
              help="Comma-separated report formats to write (default: all registered: html, json, markdown).")
@click.option("--title", default=None, help="Report title (default: names the evaluator).")
@click.option("--split", default="test", show_default=True, help="Split, when DATA is a Hugging Face dataset.")
@click.option("--data-dir", default=None, help="data_dir, when DATA is a Hugging Face dataset (e.g. harmless-base).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Report folder (report.html, report.md, report.json, review_queue.jsonl).")
def command(judgments: str, data: str | None, human: str | None, fmt: str, compare_path: str | None,
            auditor_names: str | None, review_budget: int, n_bootstrap: int, seed: int, batch_calibration: bool,
            gates: tuple[str, ...], fail_under: tuple[str, ...], report_format_names: str | None, title: str | None,
            split: str, data_dir: str | None, output: str) -> None:
    """Audit an AI evaluator's judgments (agreement, position, calibration, length) and write a report."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import build_report, run_auditors, write_report

    pm = get_plugin_manager()
    parsed_gates, names, formats = check_choices(pm, gates, fail_under, auditor_names, report_format_names)
    resolved = resolve_format(judgments, fmt)
    inputs = load_inputs(judgments, resolved, data, seed, split, data_dir)
    if human:
        apply_human(inputs, human)
    options = {"review_budget": review_budget, "batch_calibration": batch_calibration, "source_format": resolved}
    ctx = make_context(inputs, seed, n_bootstrap, options)
    compare_info = None
    if compare_path:
        other = load_compare(compare_path, fmt, inputs, data, seed, split, data_dir)
        ctx.compare, compare_info = make_context(other, seed, n_bootstrap, options), _compare_info(compare_path, other)
    for warning in inputs.warnings:
        click.echo(f"Warning: {warning}", err=True)
    config = audit_config(click.get_current_context().params, resolved, names, parsed_gates)
    report = build_report(ctx, run_auditors(ctx, pm, names), pairs=inputs.pairs, config=config,
                          data_source=inputs.source, data_hash=inputs.data_hash, judgments_path=judgments,
                          source_format=resolved, title=title or "", warnings=inputs.warnings, compare=compare_info)
    report["gates"] = [gate.check(report) for gate in parsed_gates]
    print_summary(report, write_report(report, output, pm, formats))
    _finish_gates(report["gates"])


def check_choices(pm: Any, gates: Sequence[str], fail_under: Sequence[str], auditor_names: str | None,
                  report_format_names: str | None) -> tuple[list[Gate], list[str] | None, list[str] | None]:
    """Gates, auditor names and report formats, checked before any input is read (errors name the choices)."""
    from rlaif_audit.host import report_formats

    parsed_gates = parse_gates(gates, fail_under)
    names = parse_auditor_names(auditor_names, pm)
    formats = [f.strip() for f in report_format_names.split(",") if f.strip()] if report_format_names else None
    for name in formats or []:
        report_formats(pm).get(name)
    return parsed_gates, names, formats


def audit_config(params: dict[str, Any], resolved: str, names: list[str] | None, gates: list[Gate]) -> dict[str, Any]:
    """The settings recorded in report.json (and hashed): the options, the resolved format, the command line."""
    config = {"command": reproduce_command(params)}
    config.update({OPTION_NAMES.get(key, key): value for key, value in params.items() if key != "fail_under"})
    config.update(format=resolved, auditors=names, gates=[gate.text for gate in gates])
    return config


def _compare_info(path: str, other: Imported) -> dict[str, Any]:
    from rlaif_audit.records.provenance import file_hash
    from rlaif_audit.reporting.builder import evaluator_section

    return {"judgments": {"path": path, "hash": file_hash(path)}, "evaluator": evaluator_section(other.judgments),
            "n_pairs": len(other.pairs)}


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


def _finish_gates(results: list[dict[str, Any]]) -> None:
    for result in results:
        click.echo(("gate " if result["passed"] else "GATE ") + result["message"], err=not result["passed"])
    if any(not result["passed"] for result in results):
        sys.exit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit audit``."""
    cli.add_command(command)
