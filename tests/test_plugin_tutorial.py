"""The tutorial of docs/plugins.md builds a working plugin: its files, taken from the page, pass their tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = "## Tutorial: a plugin from an empty folder"


def tutorial_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the tutorial section, in order."""
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text.split(TUTORIAL, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def fake_install(site: Path, project: dict) -> None:
    """The distribution's metadata and entry points, as ``pip install -e`` would leave them."""
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    entry_points = "".join(f"{name} = {target}\n" for name, target in project["entry-points"]["rlaif_audit"].items())
    (info / "entry_points.txt").write_text(f"[rlaif_audit]\n{entry_points}")


def test_the_tutorial_plugin_is_listed_and_passes_its_tests(tmp_path: Path) -> None:
    blocks = tutorial_blocks()
    (toml,) = [code for language, code in blocks if language == "toml"]
    module, tests = [code for language, code in blocks if language == "python"]
    config = tomllib.loads(toml)
    project = config["project"]
    (module_name,) = config["tool"]["setuptools"]["py-modules"]
    folder = tmp_path / project["name"]
    (folder / "tests").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(toml)
    (folder / f"{module_name}.py").write_text(module)
    (folder / "tests" / "test_refusals.py").write_text(tests)
    fake_install(tmp_path / "site", project)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(folder), str(tmp_path / "site")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not tiny",
                             str(folder / "tests")], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed, 1 deselected" in result.stdout
