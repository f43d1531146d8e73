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


# ------------------------------------------------------------------------ where: only inside the report folder


def _format_plugin(filename: str, render: object = None) -> object:
    from rlaif_audit import hookimpl
    from rlaif_audit.reporting.format import ReportFormat

    class Hostile(ReportFormat):
        name = "hostile-format"
        description = "writes where it should not, or exits"

        def render(self, report):  # type: ignore[override]
            return render(report) if callable(render) else "hostile"

    Hostile.filename = filename

    class Plugin:
        @hookimpl
        def register_report_formats(self, register):
            register(Hostile)

    return Plugin()


def test_a_symlinked_subfolder_cannot_lead_a_format_out_of_the_report_folder(tmp_path: Path) -> None:
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import write_report
    from rlaif_audit.reporting.report import Report

    outside, folder = tmp_path / "outside", tmp_path / "report"
    outside.mkdir()
    folder.mkdir()
    (folder / "figures").symlink_to(outside, target_is_directory=True)
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(_format_plugin("figures/x.txt"), name="hostile-plugin")
    report = Report(title="t")
    written = write_report(report, folder, pm, ["hostile-format", "json"])
    assert list(outside.iterdir()) == [] and "hostile-format" not in written and "json" in written
    assert [(e.format, "symbolic link" in e.error) for e in report.report_errors] == [("hostile-format", True)]


def test_a_format_calling_sys_exit_is_recorded_and_the_others_are_written(tmp_path: Path) -> None:
    import sys

    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import write_report
    from rlaif_audit.reporting.report import Report

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(_format_plugin("x.txt", lambda report: sys.exit(4)), name="hostile-plugin")
    report = Report(title="t")
    written = write_report(report, tmp_path, pm, ["hostile-format", "json", "markdown"])
    assert {"json", "markdown"} <= set(written) and (tmp_path / "report.json").is_file()
    assert [e.format for e in report.report_errors] == ["hostile-format"]
    assert "SystemExit" in report.report_errors[0].error
    assert json.loads((tmp_path / "report.json").read_text())["report_errors"][0]["format"] == "hostile-format"


def test_checkpoint_folders_and_their_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """A checkpoint (and a model card beside it) saved the way the loop saves them: folder 0o777 & ~umask, files
    0o666 & ~umask."""
    from rlaif_audit.loop.training import save_atomically

    def save(folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"\0" * 8)

    final = save_atomically(tmp_path / "policy", save)
    atomic_write_text(final / "README.md", "# card\n")
    assert mode(final) == 0o777 & ~umask
    assert {mode(p) for p in final.iterdir()} == {0o666 & ~umask}
