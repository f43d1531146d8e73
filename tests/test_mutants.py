"""Rules that a one-line mutation once changed with every fast test still green, now pinned by their numbers:
the verdict of a judgment line with ``p_first: 0.5`` and no verdict, and the headline of fixed audits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

EXTERNAL = Path(__file__).parent / "data" / "external"
POSITION_CLASSES = ("consistent", "biased_first", "biased_second", "partial_tie", "error")


def run_cli(args: list[Any]) -> Any:
    from rlaif_audit.cli import build_cli

    result = CliRunner().invoke(build_cli(), [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


# ---------------------------------------------------------------------------------- p_first 0.5 reads as a tie


def slot_verdict(p_first: float) -> str:
    """The verdict a judgment without one must get: tie at exactly ½, else the slot with P > ½."""
    return "tie" if p_first == 0.5 else ("first" if p_first > 0.5 else "second")


def position_classes(p_first: dict[tuple[str, str], float], pair_ids: list[str]) -> dict[str, float]:
    """Shares of the position auditor's classes, counted here from both orders' verdicts."""
    counts = dict.fromkeys(POSITION_CLASSES, 0)
    for pair_id in pair_ids:
        ab, ba = slot_verdict(p_first[pair_id, "ab"]), slot_verdict(p_first[pair_id, "ba"])
        if (ab, ba) in (("first", "second"), ("second", "first"), ("tie", "tie")):
            counts["consistent"] += 1
        elif ab == ba:
            counts["biased_first" if ab == "first" else "biased_second"] += 1
        else:
            counts["partial_tie"] += 1
    return {name: count / len(pair_ids) for name, count in counts.items()}


@pytest.fixture(scope="module")
def half_judgments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """40 synthetic pairs judged in both orders, written without verdicts; 6 pairs have ``p_first: 0.5``:
    pairs 0-3 in both orders (tie, tie), pairs 4-5 in order ab only (a partial tie)."""
    from rlaif_audit.testing import synthetic_frames, synthetic_judgments, write_synthetic_pairs

    folder = tmp_path_factory.mktemp("half")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 40, seed=5)
    frame, _ = synthetic_frames(40, seed=5)
    judgments = synthetic_judgments(frame, {"position_bias": 0.8, "noise": 0.5}, evaluator_id="half")
    ids = list(frame["pair_id"])
    halves = judgments["pair_id"].isin(ids[:4]) | (judgments["pair_id"].isin(ids[4:6]) & (judgments["order"] == "ab"))
    judgments.loc[halves, "p_first"] = 0.5
    records = judgments.drop(columns=["verdict", "raw"]).to_dict("records")
    path = folder / "judgments.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    p_first = {(r["pair_id"], r["order"]): r["p_first"] for r in records}
    return {"data": data, "path": path, "frame": frame, "table": judgments.drop(columns="verdict"), "ids": ids,
            "expected": position_classes(p_first, ids), "folder": folder}


def test_the_judgment_file_reads_p_first_one_half_without_verdict_as_a_tie(tmp_path: Path) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    path = tmp_path / "j.jsonl"
    lines = [{"pair_id": "p1", "order": "ab", "p_first": 0.5}, {"pair_id": "p1", "order": "ba", "p_first": 0.5},
             {"pair_id": "p2", "order": "ab", "p_first": 0.7}, {"pair_id": "p2", "order": "ba", "p_first": 0.2}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert list(read_judgments(path)["verdict"]) == ["tie", "tie", "first", "second"]


@pytest.mark.parametrize("verdicts", ["absent", "null"])
def test_the_audit_context_reads_p_first_one_half_without_verdict_as_a_tie(half_judgments: dict[str, Any],
                                                                           verdicts: str) -> None:
    from rlaif_audit.auditing.context import build_context

    table = half_judgments["table"].copy()
    if verdicts == "null":
        table["verdict"] = None
    ctx = build_context(table, half_judgments["frame"], [], n_bootstrap=50)
    by_id = ctx.pairs.set_index("pair_id")
    ids = half_judgments["ids"]
    assert list(by_id.loc[ids[:6], "verdict_ab"]) == ["tie"] * 6
    assert list(by_id.loc[ids[:4], "verdict_ba"]) == ["tie"] * 4
    assert "tie" not in set(by_id.loc[ids[4:6], "verdict_ba"]) | set(by_id.loc[ids[6:], "verdict_ab"])


def test_the_report_counts_p_first_one_half_without_verdict_as_a_tie(half_judgments: dict[str, Any],
                                                                     pm) -> None:
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.host import auditors

    expected = half_judgments["expected"]
    assert expected["consistent"] >= 4 / 40 and expected["partial_tie"] == 2 / 40
    out = half_judgments["folder"] / "report"
    run_cli(["audit", half_judgments["path"], "--data", half_judgments["data"], "-o", out, "--n-bootstrap", "50",
             "--auditors", "position", "--report-formats", "json"])
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    metrics = report["auditors"]["position"]["metrics"]
    assert {name: metrics[name]["value"] for name in POSITION_CLASSES} == pytest.approx(expected)
    ctx = build_context(half_judgments["table"], half_judgments["frame"], [], n_bootstrap=50)
    in_memory = auditors(pm).get("position")().audit(ctx).metrics
    assert {name: in_memory[name].value for name in POSITION_CLASSES} == pytest.approx(expected)


# ------------------------------------------------------------------------------------------ the headline


def synthetic_audit(folder: Path) -> dict[str, Any]:
    """The golden synthetic audit: 150 pairs, first-slot bias, noise, length preference and over-confidence."""
    from rlaif_audit.testing import write_synthetic_pairs

    data = write_synthetic_pairs(folder / "pairs.jsonl", 150, seed=11)
    judgments = folder / "judgments.jsonl"
    run_cli(["label", data, "-e", "synthetic", "-o", judgments, "-q", "-O", "position_bias=1.2", "-O", "noise=0.4",
             "-O", "length_pref=0.5", "-O", "temperature=0.7"])
    run_cli(["audit", judgments, "--data", data, "-o", folder / "report", "--n-bootstrap", "100",
             "--report-formats", "json"])
    return json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))


def fastchat_audit(folder: Path) -> dict[str, Any]:
    """The bundled FastChat MT-Bench GPT-4 pairwise judgments against the MT-Bench human judgments."""
    run_cli(["audit", EXTERNAL / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl", "--human",
             EXTERNAL / "mt_bench_human_judgments.json", "-o", folder / "report", "--n-bootstrap", "100",
             "--report-formats", "json"])
    return json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))


HEADLINES = {
    "synthetic": (synthetic_audit, [
        "agreement.accuracy_without_ties", "agreement.cohen_kappa", "calibration.ece_equal_width",
        "calibration.ece_equal_mass", "length.longer_excess", "length.length_coef", "position.consistent",
        "position.first_slot_preference"]),
    "fastchat": (fastchat_audit, [
        "agreement.accuracy_without_ties", "agreement.cohen_kappa", "length.longer_excess", "position.consistent",
        "position.first_slot_preference", "win_rate.vicuna-13b-v1.3.vs.gpt-3.5-turbo",
        "win_rate.alpaca-13b.vs.gpt-3.5-turbo"]),
}


@pytest.mark.parametrize("name", sorted(HEADLINES))
def test_the_headline_holds_exactly_the_declared_metrics_with_their_numbers(name: str, tmp_path: Path) -> None:
    build, keys = HEADLINES[name]
    report = build(tmp_path)
    headline = report["headline"]
    assert [row["key"] for row in headline] == keys and len(headline) == len(keys)
    win_rates = {f"win_rate.{row['generator']}.vs.{row['baseline']}": row
                 for row in report["generators"].get("head_to_head") or []}
    for row in headline:
        if row["auditor"] == "generators":
            source = win_rates[row["key"]]
            assert (row["value"], row["ci"], row["n"]) == (source["win_rate"], source["ci"], source["n_total"])
        else:
            metric = report["auditors"][row["auditor"]]["metrics"][row["metric"]]
            assert row["key"] == f"{row['auditor']}.{row['metric']}"
            assert (row["value"], row["ci"], row["n"]) == (metric["value"], metric["ci"], metric["n"])
