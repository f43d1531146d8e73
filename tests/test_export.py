"""`rlaif-audit export`: a TRL preference dataset from AI judgments — debiased, filtered, human labels first."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from rlaif_audit.data.export import FAILED, INCONSISTENT, SOFT_TIE, TIED

# pair id → (P(first) in order ab, P(first) in order ba); A is shown first in ab, B first in ba.
KNOWN = {
    "p1": (0.9, 0.2),   # both orders pick A                       → A; debiased P(A) 0.85
    "p2": (0.9, 0.9),   # always the first slot: A then B            → inconsistent; debiased ½ (tie)
    "p3": (0.3, 0.8),   # both orders pick B                       → B; debiased P(A) 0.25
    "p4": (0.7, 0.6),   # A then B                                 → inconsistent; debiased P(A) 0.55
    "p5": (0.5, 0.2),   # a tie, then A                            → tie; debiased P(A) 0.65
    "p6": (0.8, 0.1),   # both pick A, but a human says B          → human B
    "p7": (math.nan, 0.2),  # order ab failed to parse             → dropped
}


def run_cli(args: list) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def known_pairs():
    """The per-pair frame of KNOWN, built through the same context the auditors use."""
    import pandas as pd

    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.records.preference import verdict_from_p
    from rlaif_audit.records.types import HumanLabel, PreferencePair

    rows = []
    for pair_id, (p_ab, p_ba) in KNOWN.items():
        for order, p in (("ab", p_ab), ("ba", p_ba)):
            failed = math.isnan(p)
            rows.append({"pair_id": pair_id, "order": order, "p_first": p, "verdict": None if failed else
                         verdict_from_p(p), "parse_status": "failed" if failed else "ok", "raw": None,
                         "latency_s": 0.0, "evaluator": "known", "evaluator_id": "k1"})
    pairs = [PreferencePair(id=pid, context=[{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": f"question {pid}"}],
                            a=f"answer A of {pid}", b=f"answer B of {pid}") for pid in KNOWN]
    labels = [HumanLabel(pair_id="p6", preferred="b", annotator="h1")]
    return build_context(pd.DataFrame(rows), pairs, labels, n_bootstrap=0).pairs


def chosen_of(export) -> dict[str, tuple[str, str, float]]:
    return {row["pair_id"]: (row["chosen"][0]["content"][7], row["label_source"], row["p_chosen"])
            for row in export.rows}


def test_drop_inconsistent_keeps_pairs_both_orders_decide_alike():
    from rlaif_audit.data.export import build_export

    export = build_export(known_pairs(), "drop-inconsistent", 0.0, human_override=True, margin=False)
    assert chosen_of(export) == {"p1": ("A", "ai", 1.0), "p3": ("B", "ai", 1.0), "p6": ("B", "human", 1.0)}
    assert {d["pair_id"]: d["reason"] for d in export.dropped} == {"p2": INCONSISTENT, "p4": INCONSISTENT,
                                                                   "p5": TIED, "p7": FAILED}
    first = export.rows[0]
    assert first["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "question p1"}]
    assert first["chosen"] == [{"role": "assistant", "content": "answer A of p1"}]
    assert first["rejected"] == [{"role": "assistant", "content": "answer B of p1"}]
    assert "margin" not in first


def test_soft_keeps_debiased_preferences_with_margins():
    from rlaif_audit.data.export import build_export
    from rlaif_audit.records.preference import position_debiased

    export = build_export(known_pairs(), "soft", 0.0, human_override=True, margin=False)
    expected = {pid: position_debiased(*KNOWN[pid]) for pid in ("p1", "p3", "p4", "p5")}
    got = chosen_of(export)
    for pid, p_a in expected.items():
        side, p_chosen = ("A", p_a) if p_a > 0.5 else ("B", 1 - p_a)
        assert got[pid][:2] == (side, "ai") and got[pid][2] == pytest.approx(p_chosen)
    assert got["p4"][2] == pytest.approx(0.55) and got["p3"] == ("B", "ai", pytest.approx(0.75))
    margins = {row["pair_id"]: row["margin"] for row in export.rows}
    assert margins["p1"] == pytest.approx(0.7) and margins["p6"] == pytest.approx(1.0)
    assert {d["pair_id"]: d["reason"] for d in export.dropped} == {"p2": SOFT_TIE, "p7": FAILED}


def test_tie_band_and_ai_only():
    from rlaif_audit.data.export import build_export

    banded = build_export(known_pairs(), "soft", 0.1, human_override=False, margin=False)
    assert "p4" not in chosen_of(banded), "P(A) 0.55 is within a 0.1 tie band of ½"
    assert chosen_of(banded)["p6"] == ("A", "ai", pytest.approx(0.85)), "--ai-only ignores the human label"


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> dict[str, Path]:
    from rlaif_audit.testing import write_synthetic_pairs

    folder = tmp_path_factory.mktemp("export")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 40, seed=5)
    judged = folder / "j.jsonl"
    result = run_cli(["label", data, "-e", "synthetic", "-o", judged, "-q", "-O", "position_bias=1.0"])
    assert result.exit_code == 0, result.output
    return {"data": data, "judgments": judged}


def test_export_cli_writes_a_dataset_and_a_manifest_of_every_drop(labeled, tmp_path):
    out = tmp_path / "ds"
    result = run_cli(["export", labeled["judgments"], "--data", labeled["data"], "-o", out, "--ai-only", "--margin"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    about = json.loads((out / "manifest.json").read_text())
    assert about["counts"]["rows"] == len(rows) and about["counts"]["pairs"] == 40
    assert len(rows) + len(about["dropped"]) == 40 and about["dropped"]
    assert sum(about["counts"]["dropped"].values()) == len(about["dropped"])
    assert {row["label_source"] for row in rows} == {"ai"} and all(0 < row["margin"] <= 1 for row in rows)
    assert str(tmp_path) not in (out / "manifest.json").read_text()
    humans = run_cli(["export", labeled["judgments"], "--data", labeled["data"], "-o", out])
    assert humans.exit_code == 0 and "40 human-labeled" in humans.output, "DATA's labels override the AI's"


def test_export_refuses_a_folder_that_is_not_an_export(labeled, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli(["export", labeled["judgments"], "--data", labeled["data"], "-o", tmp_path])
    assert result.exit_code == 2 and "is not a previous export" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_export_loads_with_datasets_and_trains_reward_trainer_one_step(labeled, tmp_path, tiny_reward_model):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    out = tmp_path / "ds"
    assert run_cli(["export", labeled["judgments"], "--data", labeled["data"], "-o", out, "--filter", "soft",
                    "--ai-only"]).exit_code == 0
    dataset = load_dataset("json", data_files=str(out / "train.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected", "margin"} <= set(dataset.column_names)
    assert dataset[0]["chosen"][0]["role"] == "assistant"
    args = RewardConfig(output_dir=str(tmp_path / "rm"), max_steps=1, per_device_train_batch_size=2,
                        report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, max_length=128,
                        dataloader_num_workers=0, disable_tqdm=True)
    trainer = RewardTrainer(model=tiny_reward_model, args=args, train_dataset=dataset,
                            processing_class=AutoTokenizer.from_pretrained(tiny_reward_model))
    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss)
