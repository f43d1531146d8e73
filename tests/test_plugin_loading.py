"""Installed plugins that are broken are contained: skipped with a warning, listed as failed, the CLI still works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = {
    "broken_import": "import missing_dependency_of_this_plugin\n",
    "unknown_hook": ("from rlaif_audit import hookimpl\n\n\n@hookimpl\ndef register_widgets(register):\n"
                     "    pass\n"),
    "bad_signature": ("from rlaif_audit import hookimpl\n\n\n@hookimpl\ndef register_evaluators(register, colour):\n"
                      "    pass\n"),
    "exits_on_import": "import sys\n\nsys.exit('this plugin needs a GPU')\n",
    "raising_registration": ("from rlaif_audit import hookimpl\n\n\n@hookimpl\ndef register_evaluators(register):\n"
                             "    raise RuntimeError('evaluator registry unavailable')\n"),
    "raising_commands": ("from rlaif_audit import hookimpl\n\n\n@hookimpl\ndef register_commands(cli):\n"
                         "    raise KeyError('no such group')\n"),
    "label_clash": ("import click\nfrom rlaif_audit import hookimpl\n\n\n@click.command(name='label')\n"
                    "def label():\n    '''An impostor.'''\n\n\n@hookimpl\ndef register_commands(cli):\n"
                    "    cli.add_command(label)\n"),
}


def install(folder: Path, names: list[str]) -> Path:
    """Fake installed distributions (a dist-info folder with an entry point and the module) on a path folder."""
    for name in names:
        (folder / f"{name}.py").write_text(PLUGINS[name])
        info = folder / f"rlaif_audit_{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: rlaif-audit-{name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[rlaif_audit]\n{name} = {name}\n")
    return folder


def run_cli(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    code = "from rlaif_audit.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": path, **env})


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    return install(tmp_path, ["broken_import", "unknown_hook", "bad_signature"])


def test_help_and_other_commands_work_with_broken_plugins_installed(broken: Path) -> None:
    for args in (["--help"], ["auditors"], ["evaluators"]):
        result = run_cli(broken, *args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: plugin")]
    assert len(warnings) == 3, result.stderr
    assert any("'broken_import' was skipped: ModuleNotFoundError" in w for w in warnings)
    assert all("RLAIF_AUDIT_DISABLE_PLUGINS=" in w for w in warnings)
    assert "hf-judge" in result.stdout


def test_plugins_lists_the_failed_ones_with_their_error(broken: Path) -> None:
    result = run_cli(broken, "plugins")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {rows[name]["status"] for name in ("broken_import", "unknown_hook", "bad_signature")} == {"failed"}
    assert "register_widgets" in rows["unknown_hook"]["error"] and "register_evaluators" in rows["unknown_hook"]["error"]
    assert "colour" in rows["bad_signature"]["error"]
    assert rows["broken_import"]["distribution"] == "rlaif-audit-broken_import"


def test_blocking_a_broken_plugin_silences_it(broken: Path) -> None:
    result = run_cli(broken, "--help", RLAIF_AUDIT_DISABLE_PLUGINS="broken_import,unknown_hook,bad_signature")
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr


def test_a_plugin_command_named_like_a_builtin_is_an_error_naming_both(tmp_path: Path) -> None:
    folder = install(tmp_path, ["label_clash"])
    result = run_cli(folder, "--help")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Command 'label' is registered by two plugins" in result.stderr
    assert "rlaif_audit.commands.label" in result.stderr and "label_clash" in result.stderr


@pytest.fixture
def misbehaving(tmp_path: Path) -> Path:
    return install(tmp_path, ["exits_on_import", "raising_registration", "raising_commands"])


def test_a_plugin_exiting_on_import_or_raising_in_a_registration_hook_is_skipped(misbehaving: Path) -> None:
    for args in (["--help"], ["evaluators"], ["plugins"]):
        result = run_cli(misbehaving, *args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: plugin")]
    assert len(warnings) == 3, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {rows[name]["status"] for name in ("exits_on_import", "raising_registration", "raising_commands")} == {"failed"}
    assert "SystemExit" in rows["exits_on_import"]["error"] and "needs a GPU" in rows["exits_on_import"]["error"]
    assert "register_evaluators raised RuntimeError: evaluator registry unavailable" in rows["raising_registration"]["error"]
    assert "register_commands raised KeyError" in rows["raising_commands"]["error"]
    listed = run_cli(misbehaving, "evaluators")
    assert "hf-judge" in listed.stdout and listed.returncode == 0
