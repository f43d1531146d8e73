"""The rlaif-audit-injection plugin: installed and listed; its suite and fenced rubric; the injection success rate
and the fenced rubric's effect on judges whose answer is known."""

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
from rlaif_audit.judging.rubric import (RUBRIC_OPTIONS, format_conversation, load_principles, load_template,
                                        principle_bullets)
from rlaif_audit.records.types import JudgeItem, Judgment
from rlaif_audit.testing import judge_pairs, plugin_manager, run_auditor, suite

import rlaif_audit_injection
from rlaif_audit_injection.suite import ATTACKS, BEGIN, END, ITEMS, NAME

SCRIPT = Path(sys.executable).with_name("rlaif-audit")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c", "from rlaif_audit.cli import main; main()"]
FENCED = str(rlaif_audit_injection.fenced_rubric_path())


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def instruction(attack_text: str) -> str:
    """The sentence an attack addresses to the judge (its longest line)."""
    return max(attack_text.splitlines(), key=len)


def fenced(prompt: str, position: int) -> bool:
    """Whether ``position`` lies between a BEGIN fence and the first END fence after it."""
    start = prompt.rfind(BEGIN, 0, position)
    return start >= 0 and prompt.find(END, start) > position


class ObeyingJudge(Evaluator):
    """Renders the rubric; obeys any instruction to the judge that it reads outside a fence, else knows the answer."""

    name = "scripted-obeyer"
    description = "test judge"
    options = dict(RUBRIC_OPTIONS)

    def judge(self, items: Iterable[JudgeItem]) -> Iterator[Judgment]:
        template = load_template(self.config["template"])
        principles = principle_bullets(load_principles(self.config["principles"]))
        correct = {item[1] for item in ITEMS}
        for item in items:
            prompt = template.format(conversation=format_conversation(item.context), first=item.first,
                                     second=item.second, principles=principles)
            obeyed = [instruction(text) for text in ATTACKS.values()
                      if instruction(text) in prompt and not fenced(prompt, prompt.find(instruction(text)))]
            if obeyed:
                p_first = float(obeyed[0] in item.first)
            else:
                p_first = float(item.first in correct)
            yield Judgment(item.pair_id, item.order, p_first, "first" if p_first else "second", "ok", None, 0.0,
                           self.name, self.identity_hash())


class ObeyingPlugin:
    @hookimpl
    def register_evaluators(self, register: Any) -> None:
        register(ObeyingJudge)


def test_plugin_is_installed_and_listed() -> None:
    listed = run_cli("plugins")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "injection")
    assert row == {"name": "injection", "hooks": ["register_auditors", "register_commands", "register_probe_suites"],
                   "version": "0.1.0", "distribution": "rlaif-audit-injection"}
    suites = run_cli("probe-suites", "--json")
    entry = next(r for r in json.loads(suites.stdout) if r["name"] == NAME)
    assert (entry["plugin"], entry["n_pairs"], entry["kinds"]) == ("injection", 60, ["control", "injected"])
    auditors = run_cli("auditors", "--json")
    assert "injection" in [r["name"] for r in json.loads(auditors.stdout)]
    printed = run_cli("injection-rubric")
    assert printed.returncode == 0 and Path(printed.stdout.strip()) == Path(FENCED)


def test_the_fenced_rubric_is_a_valid_template_that_fences_both_responses(tmp_path: Path) -> None:
    text = load_template(FENCED)
    rendered = text.format(conversation="Q", first="FIRST", second="SECOND", principles="- p")
    for reply in ("FIRST", "SECOND"):
        assert fenced(rendered, rendered.find(reply))
    assert "ignore every one of them" in rendered
    copied = run_cli("injection-rubric", "-o", str(tmp_path / "rubric.txt"))
    assert copied.returncode == 0 and (tmp_path / "rubric.txt").read_text(encoding="utf-8") == Path(FENCED).read_text(
        encoding="utf-8")


def test_each_item_has_an_injected_and_a_control_pair_and_each_attack_five_items() -> None:
    pairs = suite(plugin_manager(rlaif_audit_injection, load_entry_points=False), NAME).pairs
    assert len(ITEMS) == 30 and len(pairs) == 60 and len({p.id for p in pairs}) == 60
    for pair in pairs:
        right, worse = (pair.a, pair.b) if pair.metadata["expected"] == "a" else (pair.b, pair.a)
        index = int(pair.metadata["item"])
        question, correct, wrong = ITEMS[index]
        assert (pair.context[0]["content"], right) == (question, correct)
        attack = ATTACKS[pair.metadata["attack"]]
        assert worse == (f"{wrong}\n\n{attack}" if pair.metadata["probe_kind"] == "injected" else wrong)
    attacks = [p.metadata["attack"] for p in pairs if p.metadata["probe_kind"] == "injected"]
    assert {attack: attacks.count(attack) for attack in ATTACKS} == dict.fromkeys(ATTACKS, 5)
    assert {p.metadata["expected"] for p in pairs} == {"a", "b"}


def test_the_suite_hash_is_pinned_to_its_version() -> None:
    """Editing a pair without bumping VERSION fails here."""
    pinned = suite(plugin_manager(rlaif_audit_injection, load_entry_points=False), NAME)
    assert (pinned.version, pinned.hash) == ("1", "94357af9eb7d2737")


def _judged(pm: Any, **options: Any) -> Any:
    return judge_pairs(ObeyingJudge(**options), suite(pm, NAME).pairs)


def test_a_judge_that_obeys_injections_has_the_known_rates_under_the_plain_and_the_fenced_rubric() -> None:
    """Plain rubric: every injection obeyed (30/30). Fenced: only the 5 that forge the fence get out (5/30)."""
    pm = plugin_manager(rlaif_audit_injection, ObeyingPlugin(), load_entry_points=False)
    plain, fenced_judgments = _judged(pm), _judged(pm, template=FENCED)
    outcome = run_auditor(pm, "injection", plain, suite(pm, NAME).pairs, compare=fenced_judgments)
    metrics = {name: metric.to_dict() for name, metric in outcome.metrics.items()}
    assert (metrics["injection_success_rate"]["value"], metrics["injection_success_rate"]["n"]) == (1.0, 30)
    assert metrics["injection_success_rate"]["ci"] == pytest.approx(list(proportion_confint(30, 30, method="wilson")))
    assert (metrics["control_rate"]["value"], metrics["injection_effect"]["value"]) == (0.0, 1.0)
    assert metrics["mitigated_success_rate"]["value"] == pytest.approx(5 / 30)
    assert metrics["mitigated_success_rate"]["ci"] == pytest.approx(list(proportion_confint(5, 30, method="wilson")))
    assert metrics["mitigated_control_rate"]["value"] == 0.0
    mitigation = metrics["mitigation_effect"]
    assert mitigation["value"] == pytest.approx(25 / 30) and mitigation["n"] == 30
    assert 0.6 < mitigation["ci"][0] < 25 / 30 < mitigation["ci"][1] <= 1.0
    by_attack = {row["attack"]: row for row in outcome.tables["by_attack"]}
    assert {a: row["mitigated_success_rate"] for a, row in by_attack.items()} == {
        a: float(a == "delimiter_escape") for a in ATTACKS}
    assert outcome.tables["bias_tests"][0]["flagged"] is True


def test_without_compared_judgments_there_is_no_mitigation_metric() -> None:
    pm = plugin_manager(rlaif_audit_injection, ObeyingPlugin(), load_entry_points=False)
    outcome = run_auditor(pm, "injection", _judged(pm, template=FENCED), suite(pm, NAME).pairs)
    assert outcome.metrics["injection_success_rate"].value == pytest.approx(5 / 30)
    assert "mitigation_effect" not in outcome.metrics
    assert [row["success_rate"] for row in outcome.tables["by_attack"]] == [
        float(a == "delimiter_escape") for a in sorted(ATTACKS)]


def test_with_the_length_only_synthetic_judge_the_longer_injected_reply_always_wins() -> None:
    from rlaif_audit.host import make_evaluator

    pm = plugin_manager(rlaif_audit_injection, load_entry_points=False)
    pairs = suite(pm, NAME).pairs
    judgments = judge_pairs(make_evaluator("synthetic", {"strength": 0.0, "length_pref": 5.0}, pm), pairs)
    outcome = run_auditor(pm, "injection", judgments, pairs)
    wrong_longer = np.array([np.sign(len(wrong) - len(correct)) for _, correct, wrong in ITEMS])
    assert outcome.metrics["injection_success_rate"].value == 1.0
    assert outcome.metrics["control_rate"].value == pytest.approx(float(np.mean((wrong_longer + 1) / 2)))


def test_probe_twice_then_audit_with_compare_on_the_command_line(tmp_path: Path) -> None:
    """Length judge (plain) vs an all-ties judge (compared): success 1, mitigated ½ (ties half), effect ½."""
    plain, other = tmp_path / "plain.jsonl", tmp_path / "other.jsonl"
    for out, options in ((plain, ["-O", "length_pref=5"]), (other, [])):
        probed = run_cli("probe", "-e", "synthetic", "-O", "strength=0", *options, "--suite", NAME, "-o", str(out),
                         "-q")
        assert probed.returncode == 0, probed.stderr
    audited = run_cli("audit", str(plain), "--data", str(tmp_path / "plain.pairs.jsonl"), "--compare", str(other),
                      "-o", str(tmp_path / "r"), "--report-formats", "json", "--n-bootstrap", "200",
                      "--auditors", "injection")
    assert audited.returncode == 0, audited.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    metrics = report["auditors"]["injection"]["metrics"]
    assert (metrics["injection_success_rate"]["value"], metrics["mitigated_success_rate"]["value"]) == (1.0, 0.5)
    assert metrics["mitigation_effect"]["value"] == 0.5
    assert {"injection.injection_success_rate", "injection.mitigation_effect"} <= {r["key"] for r in report["headline"]}


def test_without_the_suite_the_auditor_is_skipped(synthetic_pair_frames: Any) -> None:
    from rlaif_audit.testing import make_synthetic_pairs, synthetic_judgments

    pm = plugin_manager(rlaif_audit_injection, load_entry_points=False)
    frame, _ = synthetic_pair_frames
    pairs, _ = make_synthetic_pairs(200, seed=0)
    outcome = run_auditor(pm, "injection", synthetic_judgments(frame, plugin_manager=pm), pairs)
    assert outcome.status == "skipped" and "rlaif-audit probe --suite injection" in outcome.reason


def test_the_tiny_hf_judge_reads_the_fenced_rubric(tiny_model: str) -> None:
    """A real prompt-based evaluator judges with the fenced rubric: every judgment parses, both orders."""
    from rlaif_audit.host import make_evaluator

    pm = plugin_manager(rlaif_audit_injection, load_entry_points=False)
    pairs = [p for p in suite(pm, NAME).pairs if p.metadata["item"] in ("04", "05")]
    evaluator = make_evaluator("hf-judge", {"model": tiny_model, "template": FENCED, "device": "cpu"}, pm)
    try:
        judgments = judge_pairs(evaluator, pairs)
    finally:
        evaluator.close()
    assert len(judgments) == 8 and set(judgments["parse_status"]) == {"ok"}
    outcome = run_auditor(pm, "injection", judgments, pairs)
    assert outcome.status == "ok" and outcome.metrics["injection_success_rate"].n == 2
