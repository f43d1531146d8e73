"""`rlaif-audit check`: a report's release gates from a gates.toml, as a pass/fail table and JUnit XML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from rlaif_audit import hookimpl

if TYPE_CHECKING:
    from rlaif_audit.reporting.report import GateOutcome, Report

REPORT_FILE = "report.json"
JUNIT_SUITE = "rlaif-audit gates"


def load_report(folder: str) -> Report:
    """The typed report of REPORT_DIR/report.json (or of a report.json path); a bad file is exit 2."""
    from rlaif_audit.records.fileio import read_json
    from rlaif_audit.reporting.report import Report

    path = Path(folder)
    path = path / REPORT_FILE if path.is_dir() else path
    if not path.is_file():
        raise click.UsageError(f"{path}: no report.json (run `rlaif-audit audit ... -o {folder}` first)")
    try:
        return Report.from_dict(read_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise click.UsageError(f"{path}: not a rlaif-audit report.json ({type(exc).__name__}: {exc})") from exc


def table_lines(outcomes: Sequence[GateOutcome]) -> list[str]:
    """A fixed-width pass/fail table: gate name, PASS/FAIL, what was compared."""
    width = max([len("gate"), *(len(outcome.gate) for outcome in outcomes)])
    lines = [f"{'gate':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    for outcome in outcomes:
        detail = outcome.message.split(" — ", 1)[-1]
        lines.append(f"{outcome.gate:<{width}}  {'PASS' if outcome.passed else 'FAIL':<6}  {detail}")
    failed = sum(not outcome.passed for outcome in outcomes)
    lines.append(f"{len(outcomes) - failed} passed, {failed} failed")
    return lines


def junit_xml(outcomes: Sequence[GateOutcome], expressions: Sequence[str], report_path: str) -> bytes:
    """JUnit XML: one testsuite, one testcase per gate (a ``failure`` element when it failed)."""
    import xml.etree.ElementTree as ET

    failed = sum(not outcome.passed for outcome in outcomes)
    suites = ET.Element("testsuites", name=JUNIT_SUITE, tests=str(len(outcomes)), failures=str(failed), errors="0")
    suite = ET.SubElement(suites, "testsuite", name=JUNIT_SUITE, tests=str(len(outcomes)), failures=str(failed),
                          errors="0", skipped="0", time="0")
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="report", value=report_path)
    for outcome, expression in zip(outcomes, expressions):
        case = ET.SubElement(suite, "testcase", classname="rlaif_audit.gates", name=outcome.gate, time="0")
        if not outcome.passed:
            failure = ET.SubElement(case, "failure", message=outcome.message, type="GateFailed")
            failure.text = f"{expression}\n{outcome.message}"
        ET.SubElement(case, "system-out").text = f"{expression}\n{outcome.message}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


@click.command(name="check")
@click.argument("report_dir", type=click.Path())
@click.option("--gates", "gates_path", required=True, type=click.Path(dir_okay=False),
              help="gates.toml: [gates] name = \"expression\" (e.g. kappa = \"agreement.cohen_kappa >= 0.4\"), "
              "optional fdr = 0.05 for the bias-flag gates.")
@click.option("--junit", "junit_path", default=None, type=click.Path(dir_okay=False),
              help="Also write JUnit XML here (each gate a testcase) for CI test reports.")
def command(report_dir: str, gates_path: str, junit_path: str | None) -> None:
    """Check a report against named release gates: a pass/fail table, exit 0 when all pass and 1 otherwise."""
    from rlaif_audit.auditing.gates import check_gates, read_gates_file, validate_against
    from rlaif_audit.records.fileio import atomic_write_bytes

    gate_file = read_gates_file(gates_path)
    report = load_report(report_dir)
    validate_against(gate_file.gates, report, f"{gates_path}:")
    outcomes = check_gates(gate_file.gates, report, gate_file.fdr_level)
    for line in table_lines(outcomes):
        click.echo(line)
    if junit_path:
        atomic_write_bytes(junit_path, junit_xml(outcomes, [gate.text for gate in gate_file.gates], report_dir))
    if any(not outcome.passed for outcome in outcomes):
        sys.exit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit check``."""
    cli.add_command(command)
