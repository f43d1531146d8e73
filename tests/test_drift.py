"""Evaluator drift: `rlaif-audit drift` and `auditing.drift.check_drift` on reruns, changed templates and models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rlaif_audit.auditing.drift import EvaluatorDrift, act_on_drift, check_drift
from rlaif_audit.judging.rubric import bundled_template
from rlaif_audit.records.preference import choice_codes
from rlaif_audit.testing import synthetic_frames, synthetic_judgments, write_synthetic_pairs


def cli(args: list[str]):
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), args, catch_exceptions=False)


def label(data: Path, out: Path, *options: str) -> None:
    args = ["label", str(data), "-e", "synthetic", "-o", str(out), "-q"]
    for option in options:
        args += ["-O", option]
    result = cli(args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_synthetic_pairs(tmp_path / "pairs.jsonl", 60, seed=3)


def changed_fields(result_json: dict) -> set[str]:
    return {change["field"] for change in result_json["identity_changes"]}


# ------------------------------------------------------------------------------------------- synthetic judge


def test_rerun_of_the_same_identity_shows_zero_flips_and_exits_0(data: Path, tmp_path: Path) -> None:
    label(data, tmp_path / "old.jsonl", "noise=0.7", "seed=4")
    label(data, tmp_path / "new.jsonl", "noise=0.7", "seed=4")
    result = cli(["drift", str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl"), "--data", str(data),
                  "-o", str(tmp_path / "out"), "--n-bootstrap", "200"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["drifted"] is False and report["identity_changes"] == []
    assert report["metrics"]["flip_rate"]["value"] == 0.0 and report["metrics"]["flip_rate"]["n"] == 120
    assert report["metrics"]["mean_abs_delta_p_first"]["value"] == 0.0
    assert report["metrics"]["mean_abs_delta_p_first"]["ci"] == [0.0, 0.0]  # a mean, not a share: no Wilson bound
    assert report["metrics"]["kappa"]["value"] == pytest.approx(1.0)
    assert all(change["change"]["value"] == 0.0 for change in report["bias_changes"])
    assert report["identity_old"]["config"]["noise"] == 0.7  # the whole identity, from label's sidecar


def test_changed_option_is_named_field_by_field_and_exits_1(data: Path, tmp_path: Path) -> None:
    label(data, tmp_path / "old.jsonl", "noise=0.7")
    label(data, tmp_path / "new.jsonl", "noise=0.7", "position_bias=2")
    result = cli(["drift", str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl"), "--data", str(data), "--json",
                  "--n-bootstrap", "200"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert changed_fields(report) == {"config.position_bias"}
    assert "config.position_bias: 0.0 → 2.0" in report["message"]
    first_slot = {c["name"]: c for c in report["bias_changes"]}["first_slot_preference"]
    assert first_slot["change"]["value"] > 0.2 and first_slot["change"]["ci"][0] > 0  # the injected bias, paired CI


def test_identity_change_alone_is_drift_and_flips_alone_are_drift() -> None:
    pairs, _ = synthetic_frames(50, 1)
    same = synthetic_judgments(pairs, {"noise": 0.5}, evaluator_id="e1")
    renamed = same.assign(evaluator_id="e2")
    result = check_drift(same, renamed, n_bootstrap=100)
    assert result.drifted and result.metrics["flip_rate"].value == 0.0
    assert [c.field for c in result.identity_changes] == ["evaluator_id"]
    flipped = same.copy()
    flipped.loc[0, ["p_first", "verdict"]] = [1 - flipped.loc[0, "p_first"],
                                             "second" if flipped.loc[0, "verdict"] == "first" else "first"]
    result = check_drift(same, flipped, {"id": 1}, {"id": 1}, n_bootstrap=100)
    assert result.drifted and result.identity_changes == []
    assert result.metrics["flip_rate"].value == pytest.approx(1 / 100)
    assert not check_drift(same, flipped, {"id": 1}, {"id": 1}, max_flip_rate=0.05, n_bootstrap=100).drifted


def test_kappa_flip_rates_and_delta_p_match_independent_references() -> None:
    from sklearn.metrics import cohen_kappa_score

    pairs, labels = synthetic_frames(300, 2)
    old = synthetic_judgments(pairs, {"noise": 1.0, "seed": 1})
    new = synthetic_judgments(pairs, {"noise": 1.0, "seed": 2, "position_bias": 0.5}).sample(frac=1, random_state=0)
    result = check_drift(old, new, pairs=pairs, labels=labels, n_bootstrap=300)
    merged = old.merge(new, on=["pair_id", "order"], suffixes=("_old", "_new"))
    wide = {tag: merged.pivot(index="pair_id", columns="order", values=f"p_first_{tag}") for tag in ("old", "new")}
    decision = {tag: choice_codes(0.5 * (w["ab"] + 1 - w["ba"]).to_numpy()) for tag, w in wide.items()}
    assert result.metrics["kappa"].value == pytest.approx(cohen_kappa_score(decision["old"], decision["new"]))
    assert result.metrics["pair_flip_rate"].value == pytest.approx(np.mean(decision["old"] != decision["new"]))
    assert result.metrics["flip_rate"].value == pytest.approx(np.mean(merged["verdict_old"] != merged["verdict_new"]))
    ab = merged[merged["order"] == "ab"]
    assert result.metrics["flip_rate_ab"].value == pytest.approx(np.mean(ab["verdict_old"] != ab["verdict_new"]))
    assert result.metrics["mean_abs_delta_p_first"].value == pytest.approx(
        np.mean(np.abs(merged["p_first_old"] - merged["p_first_new"])))
    low, high = result.metrics["kappa"].ci
    assert low < result.metrics["kappa"].value < high


def judgments(rows: list[tuple[str, str, float]], evaluator_id: str = "e") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["pair_id", "order", "p_first"])
    return frame.assign(verdict=np.where(frame["p_first"] > 0.5, "first", "second"), parse_status="ok",
                        evaluator="x", evaluator_id=evaluator_id)


def test_bias_changes_are_paired_differences_with_known_answers() -> None:
    ids = [f"p{i}" for i in range(20)]
    # OLD: every pair consistent, A wins both orders. NEW: pairs 0-9 go to the first slot in both orders.
    old = judgments([(i, "ab", 0.8) for i in ids] + [(i, "ba", 0.2) for i in ids])
    new = judgments([(i, "ab", 0.8) for i in ids] + [(i, "ba", 0.9 if k < 10 else 0.2) for k, i in enumerate(ids)])
    result = check_drift(old, new, {}, {}, n_bootstrap=500)
    changes = {change.name: change for change in result.bias_changes}
    consistency, first_slot = changes["position_consistency"], changes["first_slot_preference"]
    assert (consistency.old.value, consistency.new.value, consistency.change.value) == (1.0, 0.5, -0.5)
    assert (first_slot.old.value, first_slot.new.value) == (0.5, 0.75)
    assert first_slot.change.value == pytest.approx(0.25)
    # paired: the change's interval is that of the flipped share (each resample moves both versions together)
    assert consistency.change.ci[1] < 0 and consistency.change.ci[0] > -0.8
    assert result.metrics["flip_rate_ba"].value == 0.5 and result.metrics["flip_rate_ab"].value == 0.0
    assert result.metrics["mean_abs_delta_p_first"].value == pytest.approx(10 * 0.7 / 40)
    assert "agreement_without_ties" not in changes and "p_prefer_longer" not in changes  # no humans, no texts


def test_mismatched_pairs_exit_2_naming_file_line_and_field(data: Path, tmp_path: Path) -> None:
    label(data, tmp_path / "old.jsonl", "noise=0.7")
    lines = (tmp_path / "old.jsonl").read_text().splitlines()
    (tmp_path / "new.jsonl").write_text("\n".join(lines[:-3]) + "\n")  # three judgments fewer
    result = cli(["drift", str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    dropped = json.loads(lines[-3])
    assert f"old.jsonl:{len(lines) - 2}: field 'pair_id': pair {dropped['pair_id']!r} in order " \
           f"{dropped['order']!r} is not judged in {tmp_path / 'new.jsonl'}" in result.stderr
    assert "3 judgment(s) without a match" in result.stderr
    assert not (tmp_path / "out").exists()


def test_misuse_is_a_usage_error(tmp_path: Path) -> None:
    assert cli(["drift", str(tmp_path / "old.jsonl")]).exit_code == 2
    assert cli(["drift", "a.jsonl", "b.jsonl", "--rescore", "demo"]).exit_code == 2


def test_on_drift_warn_and_stop() -> None:
    pairs, _ = synthetic_frames(20, 1)
    same = synthetic_judgments(pairs, evaluator_id="e1")
    drifted = check_drift(same, same.assign(evaluator_id="e2"), n_bootstrap=50)
    warned: list[str] = []
    act_on_drift(drifted, "warn", warned.append)
    assert warned == [drifted.message] and "evaluator_id: e1 → e2" in drifted.message
    with pytest.raises(EvaluatorDrift, match="evaluator_id: e1 → e2"):
        act_on_drift(drifted, "stop", warned.append)
    act_on_drift(check_drift(same, same, n_bootstrap=50), "stop", warned.append)  # no drift: nothing happens
    with pytest.raises(ValueError, match="warn, stop"):
        act_on_drift(drifted, "ignore", warned.append)


# ------------------------------------------------------------------------------------------- hf-judge, tiny models


def rescore(tmp_path: Path, model_a: str, model_b: str, *extra_b: str) -> tuple[int, dict]:
    out = tmp_path / "drift"
    args = ["drift", "--rescore", "demo", "--limit", "6", "--evaluator-a", "hf-judge", "-A", f"model={model_a}",
            "-B", f"model={model_b}", *extra_b, "-o", str(out), "-q", "--n-bootstrap", "200"]
    result = cli(args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads((out / "drift.json").read_text())


def test_hf_judge_rerun_is_deterministic(tiny_model: str, tmp_path: Path) -> None:
    code, report = rescore(tmp_path, tiny_model, tiny_model)
    assert code == 0 and report["identity_changes"] == []
    assert report["metrics"]["flip_rate"] == {"value": 0.0, "ci": [0.0, pytest.approx(0.4, abs=0.2)], "n": 12,
                                              "method": report["metrics"]["flip_rate"]["method"], "ci_note": "n<30"}
    assert report["metrics"]["mean_abs_delta_p_first"]["value"] < 1e-6


def test_hf_judge_changed_template_is_detected(tiny_model: str, tmp_path: Path) -> None:
    template = tmp_path / "template.txt"
    template.write_text("Judge strictly: only correctness counts.\n" + bundled_template())
    code, report = rescore(tmp_path, tiny_model, tiny_model, "-B", f"template={template}")
    assert code == 1 and report["drifted"]
    assert {"template_sha256", "config.template"} <= changed_fields(report)
    assert "weights_sha256" not in changed_fields(report)
    assert report["metrics"]["mean_abs_delta_p_first"]["value"] > 0


def test_hf_judge_changed_model_is_detected(tiny_model: str, tmp_path: Path) -> None:
    from rlaif_audit.judging.models import tiny_model as build_tiny_model

    other = str(build_tiny_model(seed=1))
    code, report = rescore(tmp_path, tiny_model, other)
    assert code == 1 and report["drifted"]
    assert "weights_sha256" in changed_fields(report) and "template_sha256" not in changed_fields(report)
    assert report["metrics"]["mean_abs_delta_p_first"]["value"] > 1e-4


def test_other_ab_texts_for_the_same_pair_ids_exit_2(tmp_path: Path) -> None:
    for seed, name in ((0, "old.jsonl"), (1, "new.jsonl")):  # the demo's chosen/rejected placed by another coin
        assert cli(["label", "demo", "-e", "synthetic", "--ab-seed", str(seed), "-o", str(tmp_path / name),
                    "-q"]).exit_code == 0
    result = cli(["drift", str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'new.jsonl'}:" in result.stderr and "field 'ab_hash'" in result.stderr
    assert "not the same A and B texts" in result.stderr


def test_data_read_with_the_recorded_ab_seed_and_checked(tmp_path: Path) -> None:
    for name in ("old.jsonl", "new.jsonl"):
        assert cli(["label", "demo", "-e", "synthetic", "--ab-seed", "5", "-o", str(tmp_path / name),
                    "-q"]).exit_code == 0
    paths = [str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl")]
    result = cli(["drift", *paths, "--data", "demo", "--json", "--n-bootstrap", "100"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {c["name"] for c in report["bias_changes"]} >= {"agreement_without_ties", "p_prefer_longer"}
    wrong = cli(["drift", *paths, "--data", "demo", "--ab-seed", "6"])
    assert wrong.exit_code == 2 and "field 'ab_hash'" in wrong.stderr


def test_the_change_interval_is_paired() -> None:
    """Half the pairs inconsistent in both versions and 2 of 100 repaired: the paired CI of the change is about
    ±0.03 wide, where resampling the versions independently would give about ±0.14 (two binomial SEs of 0.05)."""
    rng = np.random.default_rng(7)
    ids = [f"p{i}" for i in range(100)]
    inconsistent = rng.random(100) < 0.5
    repaired = np.flatnonzero(inconsistent)[:2]
    old_ba = np.where(inconsistent, 0.9, 0.2)
    new_ba = old_ba.copy()
    new_ba[repaired] = 0.2
    old = judgments([(i, "ab", 0.8) for i in ids] + [(i, "ba", p) for i, p in zip(ids, old_ba)])
    new = judgments([(i, "ab", 0.8) for i in ids] + [(i, "ba", p) for i, p in zip(ids, new_ba)])
    change = {c.name: c for c in check_drift(old, new, {}, {}, n_bootstrap=1000).bias_changes}["position_consistency"]
    assert change.change.value == pytest.approx(0.02)
    low, high = change.change.ci
    assert 0.0 <= low <= 0.02 <= high <= 0.06
