"""The rlaif-audit-longest plugin: installed, listed, and judging by length."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlaif_audit.records.types import JudgeItem

SCRIPT = Path(sys.executable).with_name("rlaif-audit")  # the console script beside this interpreter
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c", "from rlaif_audit.cli import main; main()"]
HH = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def test_plugin_is_installed_and_listed() -> None:
    listed = run_cli("plugins")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "longest")
    assert row == {"name": "longest", "hooks": ["register_evaluators"], "version": "0.1.0",
                   "distribution": "rlaif-audit-longest"}
    evaluators = run_cli("evaluators", "--json")
    assert evaluators.returncode == 0, evaluators.stderr
    entry = next(r for r in json.loads(evaluators.stdout) if r["name"] == "longest")
    assert entry["plugin"] == "longest" and [o["name"] for o in entry["options"]] == ["scale"]


def test_disabling_the_plugin_by_name_removes_it() -> None:
    listed = run_cli("evaluators", "--json", RLAIF_AUDIT_DISABLE_PLUGINS="longest")
    assert listed.returncode == 0, listed.stderr
    assert "longest" not in [r["name"] for r in json.loads(listed.stdout)]


def _judge(first: str, second: str, **options: str) -> float:
    from rlaif_audit.host import evaluators, get_plugin_manager

    evaluator = evaluators(get_plugin_manager()).get("longest")(**options)
    (judgment,) = evaluator.judge([JudgeItem("p", "ab", [], first, second)])
    return judgment.p_first


def test_p_first_is_a_logistic_of_the_length_difference() -> None:
    assert _judge("x" * 150, "x" * 50) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert _judge("x" * 50, "x" * 150, scale="50") == pytest.approx(1 / (1 + math.exp(2.0)))
    assert _judge("same", "size") == 0.5
    assert (_judge("longer", "short", scale="0"), _judge("a", "bb", scale="0")) == (1.0, 0.0)
    assert _judge("x" * 100_000, "", scale="1") == 1.0  # no overflow


def test_agreement_on_hh_rlhf_equals_the_share_of_longer_chosen_replies() -> None:
    """On real human data the baseline must agree exactly when the human-chosen reply is the longer one."""
    if not HH.exists():
        pytest.skip(f"shared data not found at {HH}")
    from rlaif_audit.host import evaluators, get_plugin_manager

    with gzip.open(HH, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    last = [(r["chosen"].rsplit("\n\nAssistant:", 1)[-1], r["rejected"].rsplit("\n\nAssistant:", 1)[-1]) for r in rows]
    evaluator = evaluators(get_plugin_manager()).get("longest")(scale="0")
    items = [JudgeItem(str(i), "ab", [], chosen, rejected) for i, (chosen, rejected) in enumerate(last)]
    verdicts = [j.verdict for j in evaluator.judge(items)]
    decisive = [v for v in verdicts if v != "tie"]
    longer_chosen = sum(len(c) > len(r) for c, r in last)
    assert len(rows) == 2023 and decisive.count("first") == longer_chosen
    assert 0.40 < decisive.count("first") / len(decisive) < 0.48  # the data README: chosen is longer in 44%
