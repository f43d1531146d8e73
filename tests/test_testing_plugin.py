"""rlaif_audit.testing as a pytest plugin: registered once, through its pytest11 entry point or tests/conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECK = '''
import rlaif_audit.testing


def test_registered_once_and_fixtures_work(request, pm):
    names = [name for name, plugin in request.config.pluginmanager.list_name_plugin()
             if plugin is rlaif_audit.testing]
    assert names == ["rlaif_audit"], names
    assert "synthetic" in [impl.plugin_name.rsplit(".", 1)[-1] for impl in pm.hook.register_evaluators.get_hookimpls()]
'''


def fake_install(site: Path) -> None:
    """A distribution declaring the same pytest11 entry point as rlaif-audit's pyproject.toml (as after a reinstall)."""
    info = site / "rlaif_audit_entry_point-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlaif-audit-entry-point\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nrlaif_audit = rlaif_audit.testing\n")


def run_pytest(tmp_path: Path, *args: str, entry_point: bool = False, autoload: bool = True) -> str:
    """pytest in a fresh project holding a copy of tests/conftest.py (and a fake install declaring the entry point)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", project / "conftest.py")
    (project / "test_check.py").write_text(CHECK)
    site = tmp_path / "site"
    if entry_point:
        fake_install(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(project)],
                            cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("entry_point", [False, True], ids=["conftest-only", "entry-point-and-conftest"])
@pytest.mark.parametrize("autoload", [True, False], ids=["autoload", "no-autoload"])
def test_the_plugin_is_registered_exactly_once(tmp_path: Path, entry_point: bool, autoload: bool) -> None:
    assert "1 passed" in run_pytest(tmp_path, entry_point=entry_point, autoload=autoload)


def test_the_fixtures_are_listed_from_rlaif_audit_testing(tmp_path: Path) -> None:
    listing = run_pytest(tmp_path, "--fixtures")
    section = listing.split("fixtures defined from rlaif_audit.testing", 1)[1]
    for line in ("pm -- ", "tiny_model [session scope] -- ", "tiny_reward_model [session scope] -- "):
        assert f"\n{line}" in section, listing[-2000:]


def test_pm_is_a_fresh_manager_each_time(pm) -> None:
    from rlaif_audit.host import get_plugin_manager

    assert pm is not get_plugin_manager() and pm.get_plugins()


def test_cli_help_does_not_import_the_test_helpers() -> None:
    code = ("import json, sys\nfrom rlaif_audit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint(json.dumps('rlaif_audit.testing' in sys.modules or 'pytest' in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) is False
