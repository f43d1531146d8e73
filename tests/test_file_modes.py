"""Files and folders rlaif-audit writes get the user's umask (not mkstemp's 0600 / mkdtemp's 0700)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from rlaif_audit.records.fileio import atomic_write_text, make_temp_dir


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request: pytest.FixtureRequest):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_follows_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "report.json"
    atomic_write_text(path, "{}")
    assert mode(path) == 0o666 & ~umask
    folder = make_temp_dir(tmp_path / "checkpoint")
    assert mode(folder) == 0o777 & ~umask


def test_audit_report_files_are_readable_by_colleagues(tmp_path: Path) -> None:
    from rlaif_audit.cli import build_cli

    old = os.umask(0o022)
    try:
        judgments = tmp_path / "j.jsonl"
        runner = CliRunner()
        assert runner.invoke(build_cli(), ["label", "demo", "-e", "synthetic", "-o", str(judgments), "-q"]).exit_code == 0
        result = runner.invoke(build_cli(), ["audit", str(judgments), "--data", "demo", "-o", str(tmp_path / "r"),
                                             "--n-bootstrap", "50"])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    written = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"report.json", "report.md", "report.html", "review_queue.jsonl"}
    assert {oct(mode(p)) for p in written} == {oct(0o644)}
    assert json.loads((tmp_path / "r" / "report.json").read_text())["schema_version"]
