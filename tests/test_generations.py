"""Several generations in `rlaif-audit run`: evaluator succession, the probes stage, drift stops, the top-level
report, kill -9 in gen-1 and --resume (tiny random Llamas; real TRL training, so the slow tier)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from test_loop import ENV, driver, finish, kill_when, lines, manifest, overrides

pytestmark = pytest.mark.slow

SMALL = {"rl_steps": 2, "save_steps": 1, "rl_learning_rate": 0.05, "num_prompts": 8, "eval_prompts": 2, "probe_suites": ["length"],
         "n_bootstrap": 50}


def generations(tiny_model: str, succession: str, n: int = 2, **extra: Any) -> dict[str, Any]:
    return overrides(tiny_model, generations=n, evaluator_succession=succession, **SMALL) | extra


@pytest.fixture(scope="module")
def policy_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Path:
    folder = tmp_path_factory.mktemp("generations") / "policy"
    finish(driver("start", str(folder), json.dumps(generations(tiny_model, "policy"))))
    return folder


def test_policy_succession_judges_gen1_with_gen0s_policy(policy_run: Path) -> None:
    found = manifest(policy_run)
    assert found["status"] == "done"
    assert list(found["stages"])[-1] == "run/propagation"
    gen0, gen1 = found["evaluators"]["gen-0"], found["evaluators"]["gen-1"]
    assert gen0["model_from"] is None and gen1["model_from"] == "gen-0/policy"
    assert gen1["identity"]["weights_sha256"] == found["stages"]["gen-0/policy"]["outputs"]["weights_sha256"]
    assert gen0["evaluator_id"] != gen1["evaluator_id"]
    # each generation's policy starts from the previous one
    assert found["stages"]["gen-1/generate"]["outputs"]["policy"].endswith("gen-0/policy")
    for g in (0, 1):
        assert found["stages"][f"gen-{g}/probes"]["outputs"]["evaluator_id"] == found["evaluators"][f"gen-{g}"][
            "evaluator_id"]
        assert lines(policy_run / f"gen-{g}" / "probes" / "judgments.jsonl")


def test_top_level_report_has_the_cross_generation_table(policy_run: Path) -> None:
    report = json.loads((policy_run / "report" / "report.json").read_text())
    assert [row["generation"] for row in report["run"]["generations"]] == [0, 1]
    outcome = report["auditors"]["propagation"]
    assert outcome["status"] == "ok", outcome.get("reason")
    assert {row["generation"] for row in outcome["tables"]["per_generation"]} == {0, 1}
    assert outcome["tables"]["verdicts"]
    assert [row["evaluator_model"] for row in outcome["tables"]["generations"]] == ["configured", "gen-0/policy"]
    by_measure = {row["measure"]: row for row in outcome["tables"]["policy_by_generation"]}
    kl = by_measure["policy-kl.kl_per_sequence"]
    for g in (0, 1):
        audit = json.loads((policy_run / f"gen-{g}" / "audit" / "report.json").read_text())
        assert kl[f"gen{g}"] == audit["auditors"]["policy-kl"]["metrics"]["kl_per_sequence"]["value"]
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.run import open_run
    from rlaif_audit.loop.summary import summary_lines

    printed = "\n".join(summary_lines(open_run(policy_run, get_plugin_manager())))
    assert "cross-generation report:" in printed and "| gen-0 | gen-1 |" in printed
    for row in outcome["tables"]["verdicts"]:
        assert f"{row['measure']} |" in printed and row["verdict"] in printed
    (gen1_line,) = [line for line in printed.splitlines() if line.startswith("gen-1: evaluator")]
    assert gen1_line.startswith("gen-1: evaluator paced-hf-judge (gen-0/policy); "), printed  # the driver's judge
    assert all(f"{stage} " in gen1_line for stage in ("generate", "probes", "label", "policy", "audit")), gen1_line
    # preference leakage: gen-1's evaluator (gen-0's policy) and gen-0's judge gen-0's audit pairs
    leak = manifest(policy_run)["stages"]["gen-1/probes"]["outputs"]["self_preference"]
    samples = [row for row in map(json.loads, lines(policy_run / "gen-0" / "audit" / "samples.jsonl"))
               if row["policy_text"] != row["reference_text"]]
    assert leak["status"] == "ok" and leak["pairs"] == len(samples) > 0
    assert len(lines(policy_run / "gen-1" / "probes" / "self_preference.jsonl")) == 2 * len(samples)
    assert len(lines(policy_run / "gen-1" / "probes" / "self_preference.reference.jsonl")) == 2 * len(samples)
    assert abs(leak["excess"]["value"] - (leak["own_win_rate"]["value"]
                                          - leak["own_win_rate_gen0_evaluator"]["value"])) < 1e-9
    (row,) = outcome["tables"]["self_preference_by_generation"]
    assert row["excess"] == leak["excess"]["value"] and "self-preference gen-1:" in printed


def test_reward_model_succession(tmp_path: Path, tiny_model: str) -> None:
    folder = tmp_path / "rm"
    finish(driver("start", str(folder), json.dumps(generations(tiny_model, "reward-model"))))
    found = manifest(folder)
    gen1 = found["evaluators"]["gen-1"]
    assert gen1["evaluator"] == "reward-model" and gen1["model_from"] == "gen-0/reward_model"
    assert gen1["identity"]["weights_sha256"] == found["stages"]["gen-0/reward_model"]["outputs"]["weights_sha256"]


def test_pinned_run_reports_no_drift_then_stops_on_a_changed_template(tmp_path: Path, tiny_model: str) -> None:
    template = tmp_path / "rubric.txt"
    from rlaif_audit.judging.rubric import bundled_template

    template.write_text(bundled_template(), encoding="utf-8")
    options = {"model": tiny_model, "delay": 0.0, "batch_size": 2, "template": str(template)}
    same = tmp_path / "same"
    finish(driver("start", str(same), json.dumps(generations(tiny_model, "pinned", evaluator_options=options,
                                                             on_drift="stop"))))
    found = manifest(same)
    assert found["evaluators"]["gen-0"]["evaluator_id"] == found["evaluators"]["gen-1"]["evaluator_id"]
    assert found["stages"]["gen-1/probes"]["outputs"]["drift"]["drifted"] is False

    swapped = tmp_path / "swapped"
    proc = driver("start", str(swapped), json.dumps(generations(tiny_model, "pinned", evaluator_options=options,
                                                                on_drift="stop")),
                  env={**ENV, "LOOP_DRIVER_SWAP_TEMPLATE": str(template)})
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode != 0
    assert "the pinned evaluator drifted from gen-0" in out and "template" in out
    stopped = manifest(swapped)
    assert stopped["status"] == "stopped" and stopped["stopped"]["generation"] == 1
    assert not (swapped / "gen-1" / "stages" / "probes.done.json").exists()
    assert not (swapped / "gen-1" / "judgments.jsonl").exists(), "stopped before gen-1 labels anything"


def test_kill_in_gen1_then_resume_reaches_the_same_judgments(tmp_path: Path, tiny_model: str,
                                                            policy_run: Path) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    folder = tmp_path / "killed"
    path = folder / "gen-1" / "judgments.jsonl"
    proc = driver("start", str(folder), json.dumps(generations(tiny_model, "policy")))
    kill_when(proc, lambda: len(lines(path)) >= 2, timeout=900)
    assert not (folder / "gen-1" / "stages" / "label.done.json").exists()
    finish(driver("resume", str(folder)))
    assert manifest(folder)["status"] == "done" and manifest(folder)["attempts"]["gen-1/label"] == 2
    assert manifest(folder)["attempts"]["gen-0/label"] == 1

    def table(run: Path) -> list[tuple[Any, ...]]:
        frame = read_judgments(run / "gen-1" / "judgments.jsonl")
        return sorted(zip(frame.pair_id, frame.order, frame.p_first.round(6), frame.verdict))

    assert table(folder) == table(policy_run)
