"""The Python API (rlaif_audit.label, rlaif_audit.audit, to_pandas), `rlaif-audit --version` and shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import rlaif_audit
from rlaif_audit.testing import write_synthetic_pairs

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    return write_synthetic_pairs(tmp_path / "pairs.jsonl", 80, seed=3)


def test_label_then_audit_from_python_match_the_commands(tmp_path: Path, pairs_file: Path) -> None:
    """The API's judgments are the command's byte for byte, and its metrics are report.json's."""
    options = {"position_bias": 0.8, "noise": 0.3}
    labeled = rlaif_audit.label(pairs_file, "synthetic", tmp_path / "api.jsonl", options=options)
    cli = run_cli(["label", pairs_file, "-e", "synthetic", "-O", "position_bias=0.8", "-O", "noise=0.3", "-q",
                   "-o", tmp_path / "cli.jsonl"])
    assert cli.exit_code == 0, cli.output
    assert (tmp_path / "api.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()
    judgments = labeled.to_pandas()
    assert len(judgments) == 160 and set(judgments["order"]) == {"ab", "ba"}
    assert labeled.agreement is not None and labeled.agreement["n"] > 0
    assert labeled.p_a().between(0, 1).all()

    result = rlaif_audit.audit(labeled, str(pairs_file), n_bootstrap=200, output=tmp_path / "api-report")
    cli = run_cli(["audit", tmp_path / "cli.jsonl", "--data", pairs_file, "--n-bootstrap", 200,
                   "-o", tmp_path / "cli-report"])
    assert cli.exit_code == 0, cli.output
    written = json.loads((tmp_path / "cli-report" / "report.json").read_text())
    table = result.to_pandas()
    assert set(table.columns) >= {"auditor", "metric", "value", "ci_low", "ci_high", "n", "headline"}
    for row in table.itertuples():
        expected = written["auditors"][row.auditor]["metrics"][row.metric]
        assert (row.value, row.n) == (pytest.approx(expected["value"], nan_ok=True), expected["n"])
        if expected["ci"] is not None:
            assert (row.ci_low, row.ci_high) == (pytest.approx(expected["ci"][0]), pytest.approx(expected["ci"][1]))
    assert list(result.headline["auditor"] + "." + result.headline["metric"]) == [
        row["key"] for row in written["headline"]]
    slot = result.metric("position.first_slot_log_odds")
    assert slot.value == pytest.approx(written["auditors"]["position"]["metrics"]["first_slot_log_odds"]["value"])
    assert (tmp_path / "api-report" / "report.json").is_file()


def test_audit_api_errors_name_what_is_wrong(tmp_path: Path, pairs_file: Path) -> None:
    from rlaif_audit.errors import ConfigError, InputError

    labeled = rlaif_audit.label(pairs_file, "synthetic", tmp_path / "j.jsonl", limit=10)
    with pytest.raises(ConfigError, match="--data is required"):
        rlaif_audit.audit(labeled)
    with pytest.raises(InputError, match="file not found"):
        rlaif_audit.audit(tmp_path / "missing.jsonl", str(pairs_file))
    result = rlaif_audit.audit(labeled, str(pairs_file), n_bootstrap=0, auditors=["position"])
    with pytest.raises(KeyError, match="no metric 'agreement.kappa'.*position"):
        result.metric("agreement.kappa")


def test_label_accepts_preference_pairs(tmp_path: Path) -> None:
    from rlaif_audit.testing import make_synthetic_pairs

    pairs, _ = make_synthetic_pairs(6, seed=1)
    result = rlaif_audit.label(pairs, "synthetic", tmp_path / "j.jsonl")
    assert result.summary.pairs == 6 and len(result.to_pandas()) == 12


def test_import_is_light_and_the_api_loads_on_first_use() -> None:
    code = ("import sys, rlaif_audit; light = not any(m in sys.modules for m in ('pandas', 'numpy', 'rlaif_audit.api'));"
            "f = rlaif_audit.audit; print(light, f.__module__, rlaif_audit.trl.reward_function.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == ["True", "rlaif_audit.api", "rlaif_audit.trl"]


def test_version_option_prints_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = run_cli(["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"rlaif-audit, version {version}"
    assert rlaif_audit.__version__ == version


def test_bash_completion_script_and_completions() -> None:
    """click's completion: `_RLAIF_AUDIT_COMPLETE=bash_source rlaif-audit` prints the script; the completer lists
    the plugin commands."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_RLAIF_AUDIT_COMPLETE": "bash_source"}
    script = subprocess.run([sys.executable, "-m", "rlaif_audit.cli"], capture_output=True, text=True, env=env)
    assert script.returncode == 0 and "_rlaif_audit_completion()" in script.stdout
    env.update(_RLAIF_AUDIT_COMPLETE="bash_complete", COMP_WORDS="rlaif-audit au", COMP_CWORD="1")
    words = subprocess.run([sys.executable, "-m", "rlaif_audit.cli"], capture_output=True, text=True, env=env)
    assert "plain,audit" in words.stdout.split() and "plain,auditors" in words.stdout.split()
