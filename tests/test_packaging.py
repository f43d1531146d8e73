"""pyproject.toml is true to the code: every third-party package the code imports is declared, and
``requires-python`` admits no Python that lacks a standard module the code imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rlaif_audit"
TEST_HELPERS = PACKAGE / "testing.py"  # the pytest plugin: may also import the ``test`` extra (pytest)
NEWER_STDLIB = {"tomllib": (3, 11)}
"""Standard modules added after the oldest Python a project might claim, and the version that added them."""


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def imported_modules(paths: list[Path] | None = None) -> set[str]:
    """Top-level names of every absolute import in the package, or in ``paths`` (module level and inside functions)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py") if paths is None else paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def declared_distributions(extra: str | None = None) -> set[str]:
    """Normalised names of the distributions in ``dependencies`` (and in the optional ``extra``)."""
    specs = project()["dependencies"] + (project()["optional-dependencies"][extra] if extra else [])
    names = (re.split(r"[\s<>=!~\[;]", spec, maxsplit=1)[0] for spec in specs)
    return {name.lower().replace("_", "-") for name in names}


def undeclared(modules: set[str], declared: set[str]) -> dict[str, list[str]]:
    """Third-party modules among ``modules`` that no distribution in ``declared`` provides."""
    third_party = modules - set(sys.stdlib_module_names) - {"rlaif_audit", "__future__"}
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(third_party):
        distributions = {name.lower().replace("_", "-") for name in providers.get(module, [module])}
        if not distributions & declared:
            missing[module] = sorted(distributions)
    return missing


def test_every_imported_third_party_package_is_declared() -> None:
    core = [path for path in PACKAGE.rglob("*.py") if path != TEST_HELPERS]
    # peft is the optional extra ``peft``: imported only when lora_r > 0, which the preflight refuses without it
    missing = undeclared(imported_modules(core), declared_distributions("peft"))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    helpers = undeclared(imported_modules([TEST_HELPERS]), declared_distributions("test"))
    assert not helpers, f"imported by rlaif_audit.testing but not declared (dependencies or the test extra): {helpers}"


def test_requires_python_admits_only_versions_with_the_standard_modules_used() -> None:
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)", project()["requires-python"].strip())
    assert floor, "requires-python should be a plain lower bound (>=X.Y)"
    claimed = (int(floor.group(1)), int(floor.group(2)))
    needed = max([version for module, version in NEWER_STDLIB.items() if module in imported_modules()],
                 default=(3, 0))
    assert claimed >= needed, f"the code imports a module of Python {needed}, requires-python says {claimed}"
