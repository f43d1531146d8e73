"""The committed reference reports in reports/ are there and still load with the current report schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

REPORTS = Path(__file__).resolve().parents[1] / "reports"
FRESH_CLONE_REPORTS = ("synthetic-biases", "fastchat-mt-bench", "alpaca-eval")  # made from data every clone has
REGENERATE = "regenerate them with scripts/make_reference_reports.sh"


def committed_reports() -> list[Path]:
    return sorted(REPORTS.glob("*/report.json"))


def run_cli(args: list[Any]) -> None:
    from rlaif_audit.cli import build_cli

    result = CliRunner().invoke(build_cli(), [str(a) for a in args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def current_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A report.json as the current builder writes it (a small synthetic audit): its schema_version and keys."""
    from rlaif_audit.testing import write_synthetic_pairs

    folder = tmp_path_factory.mktemp("current")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 40, seed=1)
    run_cli(["label", data, "-e", "synthetic", "-o", folder / "j.jsonl", "-q", "-O", "position_bias=0.5"])
    run_cli(["audit", folder / "j.jsonl", "--data", data, "-o", folder / "report", "--n-bootstrap", "20",
             "--report-formats", "json"])
    return json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))


def test_the_reports_a_fresh_clone_can_make_are_committed_in_every_format() -> None:
    names = {path.parent.name for path in committed_reports()}
    assert set(FRESH_CLONE_REPORTS) <= names, f"missing reference reports: {REGENERATE}"
    for path in committed_reports():
        assert (path.parent / "report.md").is_file() and (path.parent / "report.html").is_file(), path.parent


@pytest.mark.parametrize("path", committed_reports(), ids=lambda path: path.parent.name)
def test_a_committed_report_loads_with_the_current_schema(path: Path, current_report: dict[str, Any]) -> None:
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["schema_version"] == current_report["schema_version"], f"{path} is of an older schema: {REGENERATE}"
    missing = sorted(set(current_report) - set(report))
    assert missing == [], f"{path} lacks the top-level keys {missing} the current builder writes: {REGENERATE}"


def test_the_readme_describes_every_committed_report() -> None:
    readme = (REPORTS / "README.md").read_text(encoding="utf-8")
    for path in committed_reports():
        assert f"`{path.parent.name}/`" in readme, f"reports/README.md does not describe {path.parent.name}/"
