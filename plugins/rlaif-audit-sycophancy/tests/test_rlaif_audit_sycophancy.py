"""The rlaif-audit-sycophancy plugin: installed and listed; its suite; its rates on judges whose answer is known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from rlaif_audit import hookimpl
from rlaif_audit.judging.evaluator import Evaluator
from rlaif_audit.records.types import JudgeItem, Judgment
from rlaif_audit.testing import judge_pairs, plugin_manager, run_auditor, suite

import rlaif_audit_sycophancy
from rlaif_audit_sycophancy.suite import ITEMS, NAME

SCRIPT = Path(sys.executable).with_name("rlaif-audit")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c", "from rlaif_audit.cli import main; main()"]
SYCOPHANTIC_ITEMS = {f"{i:02d}" for i in range(0, len(ITEMS), 3)}
"""Items on which the scripted judge below gives in to the user's stated belief (12 of 36)."""


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env})


class ScriptedJudge(Evaluator):
    """Knows every right answer; sides with the user's stated belief on the items of ``SYCOPHANTIC_ITEMS``."""

    name = "scripted-sycophant"
    description = "test judge"
    options: dict[str, Any] = {}

    def judge(self, items: Iterable[JudgeItem]) -> Iterator[Judgment]:
        agreeing = {item[3] for item in ITEMS}
        questions = {item[1] for item in ITEMS}
        for item in items:
            index = next(i for i, it in enumerate(ITEMS) if it[3] in (item.first, item.second))
            belief_stated = item.context[0]["content"] not in questions
            wants_agreeing = belief_stated and f"{index:02d}" in SYCOPHANTIC_ITEMS
            p_first = float((item.first in agreeing) == wants_agreeing)
            yield Judgment(item.pair_id, item.order, p_first, "first" if p_first else "second", "ok", None, 0.0,
                           self.name, "scripted")


class ScriptedPlugin:
    @hookimpl
    def register_evaluators(self, register: Any) -> None:
        register(ScriptedJudge)


def test_plugin_is_installed_and_listed() -> None:
    listed = run_cli("plugins")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "sycophancy")
    assert row == {"name": "sycophancy", "hooks": ["register_auditors", "register_probe_suites"], "version": "0.1.0",
                   "distribution": "rlaif-audit-sycophancy"}
    suites = run_cli("probe-suites", "--json")
    entry = next(r for r in json.loads(suites.stdout) if r["name"] == NAME)
    assert (entry["plugin"], entry["n_pairs"], entry["kinds"]) == ("sycophancy", 72, ["control", "opinion"])
    auditors = run_cli("auditors", "--json")
    assert auditors.returncode == 0, auditors.stderr
    assert "sycophancy" in [r["name"] for r in json.loads(auditors.stdout)]


def test_each_item_asks_with_and_without_the_belief_with_the_same_replies() -> None:
    pairs = suite(plugin_manager(rlaif_audit_sycophancy, load_entry_points=False), NAME).pairs
    assert len(ITEMS) == 36 and len(pairs) == 72 and len({p.id for p in pairs}) == 72
    by_item: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        by_item.setdefault(pair.metadata["item"], {})[pair.metadata["probe_kind"]] = pair
    for index, (_, question, claim, agreeing, correct) in enumerate(ITEMS):
        opinion, control = by_item[f"{index:02d}"]["opinion"], by_item[f"{index:02d}"]["control"]
        for pair in (opinion, control):
            right = pair.a if pair.metadata["expected"] == "a" else pair.b
            wrong = pair.b if pair.metadata["expected"] == "a" else pair.a
            assert (right, wrong) == (correct, agreeing)
        assert control.context[0]["content"] == question
        assert claim in opinion.context[0]["content"] and question in opinion.context[0]["content"]
    assert {p.metadata["expected"] for p in pairs} == {"a", "b"}  # the correct reply is in both slots


def test_the_suite_hash_is_pinned_to_its_version() -> None:
    """Editing a pair without bumping VERSION fails here."""
    pinned = suite(plugin_manager(rlaif_audit_sycophancy, load_entry_points=False), NAME)
    assert (pinned.version, pinned.hash) == ("1", "d030a574c1e87a2c")


def _outcome(pm: Any, judgments: Any, **options: Any) -> Any:
    return run_auditor(pm, "sycophancy", judgments, suite(pm, NAME).pairs, **options)


def test_a_partly_sycophantic_judge_has_the_known_rate_and_effect() -> None:
    pm = plugin_manager(rlaif_audit_sycophancy, ScriptedPlugin(), load_entry_points=False)
    judgments = judge_pairs(ScriptedJudge(), suite(pm, NAME).pairs)
    outcome = _outcome(pm, judgments)
    metrics = {name: metric.to_dict() for name, metric in outcome.metrics.items()}
    low, high = proportion_confint(12, 36, method="wilson")
    assert metrics["sycophancy_rate"]["value"] == pytest.approx(12 / 36)
    assert metrics["sycophancy_rate"]["ci"] == pytest.approx([low, high])
    assert (metrics["control_rate"]["value"], metrics["control_rate"]["n"]) == (0.0, 36)
    effect = metrics["opinion_effect"]
    assert effect["value"] == pytest.approx(1 / 3) and effect["n"] == 36 and 0.15 < effect["ci"][0] < 1 / 3
    (test,) = outcome.tables["bias_tests"]
    assert test["metric"] == "opinion_effect" and test["flagged"] is True
    assert sorted(row["pair_id"] for row in outcome.tables["sycophantic_wins"]) == sorted(
        f"{NAME}/opinion-{item}" for item in SYCOPHANTIC_ITEMS)


def test_with_the_length_only_synthetic_judge_the_rate_is_the_share_of_longer_agreeing_replies() -> None:
    """strength 0, length_pref 5: the longer reply wins in both orders, equal lengths tie (half)."""
    pm = plugin_manager(rlaif_audit_sycophancy, load_entry_points=False)
    from rlaif_audit.host import make_evaluator

    judgments = judge_pairs(make_evaluator("synthetic", {"strength": 0.0, "length_pref": 5.0}, pm),
                            suite(pm, NAME).pairs)
    outcome = _outcome(pm, judgments)
    longer = np.array([np.sign(len(agreeing) - len(correct)) for _, _, _, agreeing, correct in ITEMS])
    expected = float(np.mean((longer + 1) / 2))
    assert 0 < expected < 0.5
    assert outcome.metrics["sycophancy_rate"].value == pytest.approx(expected)
    assert outcome.metrics["control_rate"].value == pytest.approx(expected)
    assert outcome.metrics["opinion_effect"].value == 0.0


def test_a_judge_that_always_picks_the_first_slot_ties_every_pair_so_its_rate_is_one_half() -> None:
    pm = plugin_manager(rlaif_audit_sycophancy, load_entry_points=False)
    from rlaif_audit.host import make_evaluator

    judgments = judge_pairs(make_evaluator("synthetic", {"strength": 0.0, "position_bias": 3.0}, pm),
                            suite(pm, NAME).pairs)
    outcome = _outcome(pm, judgments)
    assert (outcome.metrics["sycophancy_rate"].value, outcome.metrics["sycophancy_rate"].n) == (0.5, 36)
    assert len(outcome.tables["sycophantic_wins"]) == 36  # every tie is half a win


def test_pairs_missing_an_order_are_left_out_and_counted() -> None:
    pm = plugin_manager(rlaif_audit_sycophancy, ScriptedPlugin(), load_entry_points=False)
    judgments = judge_pairs(ScriptedJudge(), suite(pm, NAME).pairs)
    dropped = {f"{NAME}/opinion-00", f"{NAME}/opinion-01"}
    outcome = _outcome(pm, judgments[~(judgments["pair_id"].isin(dropped) & (judgments["order"] == "ba"))])
    assert outcome.metrics["sycophancy_rate"].n == 34
    assert outcome.metrics["sycophancy_rate"].value == pytest.approx(11 / 34)  # item 00 was a sycophantic one
    assert outcome.metrics["opinion_effect"].n == 34
    assert any("2 suite pair(s) left out" in note for note in outcome.notes)


def test_without_the_suite_the_auditor_is_skipped_with_the_way_to_run_it(synthetic_pair_frames: Any) -> None:
    from rlaif_audit.testing import make_synthetic_pairs, synthetic_judgments

    pm = plugin_manager(rlaif_audit_sycophancy, load_entry_points=False)
    frame, _ = synthetic_pair_frames
    pairs, _ = make_synthetic_pairs(200, seed=0)
    outcome = run_auditor(pm, "sycophancy", synthetic_judgments(frame, plugin_manager=pm), pairs)
    assert outcome.status == "skipped" and "rlaif-audit probe --suite sycophancy" in outcome.reason


def test_probe_then_audit_on_the_command_line(tmp_path: Path) -> None:
    judgments = tmp_path / "j.jsonl"
    probed = run_cli("probe", "-e", "synthetic", "-O", "strength=0", "-O", "length_pref=5", "--suite", NAME,
                     "-o", str(judgments), "-q")
    assert probed.returncode == 0, probed.stderr
    audited = run_cli("audit", str(judgments), "--data", str(tmp_path / "j.pairs.jsonl"), "-o", str(tmp_path / "r"),
                      "--report-formats", "json", "--n-bootstrap", "200", "--auditors", "sycophancy")
    assert audited.returncode == 0, audited.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    result = report["auditors"]["sycophancy"]
    assert result["status"] == "ok" and result["metrics"]["sycophancy_rate"]["n"] == 36
    assert "sycophancy.sycophancy_rate" in [row["key"] for row in report["headline"]]
