"""`audit --protocol`: the field's agreement protocols reproduce the reference code (vendored in tests/reference/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from reference import alpaca_eval_analyze, fastchat_llm_judge, judgebench_metrics  # noqa: E402

from rlaif_audit.auditing.context import build_context  # noqa: E402
from rlaif_audit.default_plugins.auditors.agreement import AgreementAuditor  # noqa: E402

MODELS = ("gpt-3.5-turbo", "vicuna-13b-v1.3", "alpaca-13b", "llama-13b")


def run_audit(args: list[Any]) -> dict[str, Any]:
    """``rlaif-audit audit ARGS -o OUT`` (exit 0) and its report.json."""
    from rlaif_audit.cli import build_cli

    out = Path(args[args.index("-o") + 1])
    result = CliRunner().invoke(build_cli(), [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def metric(report: dict[str, Any], name: str) -> float:
    return report["auditors"]["agreement"]["metrics"][name]["value"]


# ---------------------------------------------------------------------------------------------------- mt-bench


def fastchat_files(folder: Path, seed: int = 0) -> tuple[Path, Path, list[dict[str, Any]], list[dict[str, Any]]]:
    """A FastChat pairwise judgment file (model_judgment format) and MT-Bench human judgments (experts, authors)."""
    rng = np.random.default_rng(seed)
    matches, votes = [], []
    for qid in range(81, 111):
        for turn in (1, 2):
            for opponent in MODELS[1:]:
                m1, m2 = (opponent, MODELS[0]) if rng.random() < 0.5 else (MODELS[0], opponent)
                g1, g2 = rng.choice(["model_1", "model_2", "tie", "error"], size=2, p=[0.4, 0.35, 0.2, 0.05])
                if rng.random() < 0.5:
                    g2 = g1 if g1 != "error" else g2  # consistent games are common
                matches.append({"question_id": qid, "model_1": m1, "model_2": m2, "g1_winner": str(g1),
                                "g2_winner": str(g2), "judge": ["gpt-4", "pair-v2"], "turn": turn})
                for judge in rng.choice(["expert_0", "expert_1", "expert_2", "author_0", "author_3"],
                                        size=int(rng.integers(0, 4)), replace=False):
                    a, b = (m1, m2) if rng.random() < 0.5 else (m2, m1)
                    winner = rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"], p=[0.4, 0.35, 0.15, 0.1])
                    votes.append({"question_id": qid, "model_a": a, "model_b": b, "winner": str(winner),
                                  "judge": str(judge), "turn": turn})
    judgments = folder / "gpt-4_pair.jsonl"
    judgments.write_text("".join(json.dumps(m) + "\n" for m in matches), encoding="utf-8")
    human = folder / "human_judgments.json"
    human.write_text(json.dumps(votes), encoding="utf-8")
    return judgments, human, matches, votes


def gpt4_pair_votes(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The judge's votes in compute_agreement's input format: show_result's rule per match, error matches dropped."""
    table = pd.DataFrame(matches)
    votes = []
    for _, row in table[(table["g1_winner"] != "error") & (table["g2_winner"] != "error")].iterrows():
        tie = row["g1_winner"] == "tie" or row["g1_winner"] != row["g2_winner"]
        winner = "tie" if tie else {"model_1": "model_a", "model_2": "model_b"}[row["g1_winner"]]
        votes.append({"question_id": row["question_id"], "model_a": row["model_1"], "model_b": row["model_2"],
                      "winner": winner, "judge": ["gpt-4", "pair-v2"], "turn": row["turn"]})
    return votes


def test_mt_bench_protocol_reproduces_compute_agreement(tmp_path: Path) -> None:
    """S1/S2 judge–human and human–human agreement = FastChat compute_agreement.py on the same files, per turn."""
    judgments, human, matches, votes = fastchat_files(tmp_path)
    report = run_audit(["audit", judgments, "--human", human, "--protocol", "mt-bench", "--auditors", "agreement",
                        "--n-bootstrap", 50, "-o", tmp_path / "out"])
    data = fastchat_llm_judge.get_mt_bench_votes_data([votes, gpt4_pair_votes(matches)])
    expected: dict[str, list[tuple[int, int]]] = {}
    for ban, setup in (([], "s1"), (["tie"], "s2")):
        expected[setup] = [fastchat_llm_judge.get_mt_bench_agreement(data[t], "gpt4-pair", "human", ban) for t in (0, 1)]
        expected["human_" + setup] = [fastchat_llm_judge.get_mt_bench_agreement(data[t], "human", "human", ban)
                                      for t in (0, 1)]
    for key, per_turn in expected.items():
        agree, total = (sum(part) for part in zip(*per_turn))
        assert total > 20
        name = f"mt_bench_{'human_agreement_' + key[6:] if key.startswith('human') else 'agreement_' + key}"
        assert metric(report, name) == pytest.approx(agree / total), name
        assert report["auditors"]["agreement"]["metrics"][name]["n"] == total
    rows = {(row["turn"], row["setup"][:2]): row for row in report["auditors"]["agreement"]["tables"]["mt_bench_agreement"]}
    for turn in (1, 2):
        for setup in ("s1", "s2"):
            agree, total = expected[setup][turn - 1]
            assert (rows[(turn, setup.upper())]["agree"], rows[(turn, setup.upper())]["total"]) == (agree, total)
    keys = {row["key"] for row in report["headline"]}
    assert {"agreement.mt_bench_agreement_s1", "agreement.mt_bench_agreement_s2"} <= keys


def test_mt_bench_votes_use_every_annotator_without_expert_ids() -> None:
    """Without expert/author ids every human vote counts; with them only expert* ones (get_judge_name)."""
    from rlaif_audit.auditing.protocols import expert_votes

    assert expert_votes(np.array(["alice", "bob"])).tolist() == [True, True]
    assert expert_votes(np.array(["expert_0", "author_1", "Expert_2"])).tolist() == [True, False, True]


def test_fastchat_win_rates_count_repeated_matches_like_show_result(tmp_path: Path) -> None:
    """A match judged twice counts twice (show_result scores every line), per baseline and pairwise-all."""
    judgments, _human, matches, _votes = fastchat_files(tmp_path, seed=4)
    rng = np.random.default_rng(5)
    repeats = [dict(matches[i], g1_winner="model_2", g2_winner="model_2") for i in rng.choice(len(matches), 40)]
    judgments.write_text("".join(json.dumps(m) + "\n" for m in matches + repeats), encoding="utf-8")
    report = run_audit(["audit", judgments, "--auditors", "win-rates", "--n-bootstrap", 0, "-o", tmp_path / "out"])
    table = pd.DataFrame(matches + repeats)
    everyone = fastchat_llm_judge.show_result_pairwise(table)
    per = {row["generator"]: row for row in report["generators"]["per_generator"]}
    assert set(per) == set(everyone.index)
    for model, row in everyone.iterrows():
        assert per[model]["win_rate"] == pytest.approx(100 * row["win_rate_adjusted"])
        assert per[model]["n_total"] == row["win"] + row["loss"] + row["tie"]
    baseline = fastchat_llm_judge.show_result_pairwise(table, baseline_model=MODELS[0])
    head = {row["generator"]: row for row in report["generators"]["head_to_head"]}
    for model, row in baseline.iterrows():
        assert head[model]["baseline"] == MODELS[0]
        assert head[model]["win_rate"] == pytest.approx(100 * row["win_rate_adjusted"])


# -------------------------------------------------------------------------------------------------- judgebench


def test_judgebench_protocol_reproduces_compute_final_metrics() -> None:
    """Both orders, ±1 per decision, correct when the net is positive; null decisions stay in the denominator."""
    rng = np.random.default_rng(3)
    n = 300
    pairs = pd.DataFrame({"pair_id": [f"p{i}" for i in range(n)], "a": ["x"] * n, "b": ["yy"] * n})
    human = rng.choice(["a", "b"], size=n)
    rows, reference = [], []
    for i, pid in enumerate(pairs["pair_id"]):
        decisions = []
        for order in ("ab", "ba"):
            outcome = rng.choice(["first", "second", "tie", "failed", "missing"], p=[0.45, 0.35, 0.1, 0.05, 0.05])
            if outcome == "missing" and order == "ba" and decisions[0] is None:
                outcome = "failed"  # a pair never judged is not audited; one failed in both orders is (JudgeBench: 0)
            if outcome != "missing":
                failed = outcome == "failed"
                rows.append({"pair_id": pid, "order": order, "p_first": None, "verdict": None if failed else outcome,
                             "parse_status": "failed" if failed else "ok", "evaluator": "j"})
            decision = {"first": "A>B", "second": "B>A", "tie": "A=B"}.get(str(outcome))
            decisions.append(None if decision is None else {"decision": decision})
        reference.append({"label": "A>B" if human[i] == "a" else "B>A", "judgments": decisions})
    labels = pd.DataFrame({"pair_id": pairs["pair_id"], "preferred": human, "annotator": "h"})
    ctx = build_context(pd.DataFrame(rows), pairs, labels, n_bootstrap=50, options={"protocol": "judgebench"})
    result = AgreementAuditor().audit(ctx)
    expected = judgebench_metrics.compute_final_metrics(reference, reverse_order=True)
    assert 100 * result.metrics["judgebench_accuracy"].value == pytest.approx(expected)
    assert result.metrics["judgebench_accuracy"].n == n
    table = result.tables["judgebench"][0]
    assert table["n_nulls"] > 0 and table["n_correct"] == round(expected * n / 100)


# ------------------------------------------------------------------------------------------------- alpaca-eval


def alpaca_files(folder: Path, seed: int = 0, *, weighted: bool = False) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    """AlpacaEval judge annotations (one per pair) and human cross-annotations (3 to 5 annotators per pair)."""
    rng = np.random.default_rng(seed)
    judge, humans = [], []
    for i in range(120):
        record = {"instruction": f"Question {i}?", "output_1": f"Baseline answer {i}.",
                  "output_2": f"Model answer {i} " + "with more words " * int(rng.integers(0, 5)),
                  "generator_1": "gpt4", "generator_2": "model"}
        truth = rng.random()
        for index in range(int(rng.choice([3, 4, 4, 5]))):
            draw = rng.random()
            preference = 1.5 if draw < 0.15 else (2.0 if draw < 0.15 + 0.85 * truth else 1.0)
            humans.append({**record, "preference": preference, "annotator_index": index,
                           "datasplit": "eval"})
        if weighted:
            preference = float(np.clip(1 + truth + rng.normal(0, 0.3), 1, 2))
        else:
            preference = float(rng.choice([1.0, 1.5, 2.0], p=[0.9 - 0.8 * truth, 0.1, 0.8 * truth]))
        judge.append({**record, "annotator": "weighted_judge", "preference": preference})
    judge_path, human_path = folder / "annotations.json", folder / "human.json"
    judge_path.write_text(json.dumps(judge), encoding="utf-8")
    human_path.write_text(json.dumps(humans), encoding="utf-8")
    return judge_path, human_path, pd.DataFrame(judge), pd.DataFrame(humans)


@pytest.mark.parametrize("weighted", [False, True])
def test_alpaca_eval_protocol_reproduces_the_analyzer(tmp_path: Path, weighted: bool) -> None:
    """Human agreement of the judge and of the humans (leave-one-out) = AlpacaEval's Analyzer (absolute rule)."""
    judge_path, human_path, judge, humans = alpaca_files(tmp_path, weighted=weighted)
    report = run_audit(["audit", judge_path, "--human", human_path, "--protocol", "alpaca-eval", "--auditors",
                        "agreement", "--n-bootstrap", 50, "-o", tmp_path / "out"])
    analyzer = alpaca_eval_analyze.Analyzer(humans, None, n_annotators=4)
    judge_agreement = analyzer.agreement_of_annotations(judge.copy(), n_majority_vote_1=1)
    human_agreement = analyzer.agreement_of_annotations("gold_crossannotations", n_majority_vote_1=1)
    assert metric(report, "alpaca_eval_human_agreement") == pytest.approx(judge_agreement["score"])
    assert metric(report, "alpaca_eval_human_ceiling") == pytest.approx(human_agreement["score"])
    n_four = int((humans.groupby("instruction").size() >= 4).sum())
    assert report["auditors"]["agreement"]["metrics"]["alpaca_eval_human_ceiling"]["n"] == n_four < 120


@pytest.mark.parametrize("weighted", [False, True])
def test_alpaca_eval_bias_and_variance_from_judge_cross_annotations(tmp_path: Path, weighted: bool) -> None:
    """With the judge's repeated annotations (index 0..2): bias, variance and agreement = AlpacaEval's Analyzer."""
    judge_path, human_path, judge, humans = alpaca_files(tmp_path, seed=7, weighted=weighted)
    rng = np.random.default_rng(8)
    repeats = []
    for index in range(3):
        noise = rng.normal(0, 0.35, len(judge))
        shifted = np.clip(judge["preference"] + noise, 1, 2) if weighted else \
            np.where(rng.random(len(judge)) < 0.3, rng.choice([1.0, 1.5, 2.0], len(judge)), judge["preference"])
        repeats.append(judge.assign(preference=shifted, index=index))
    cross = pd.concat(repeats, ignore_index=True)
    judge_path.write_text(cross.to_json(orient="records"), encoding="utf-8")
    report = run_audit(["audit", judge_path, "--human", human_path, "--protocol", "alpaca-eval", "--auditors",
                        "agreement", "--n-bootstrap", 50, "-o", tmp_path / "out"])
    analyzer = alpaca_eval_analyze.Analyzer(humans, None, n_annotators=4)
    assert metric(report, "alpaca_eval_bias") == pytest.approx(analyzer.estimate_bias(cross.copy()))
    assert metric(report, "alpaca_eval_variance") == pytest.approx(analyzer.estimate_variance(cross.copy()))
    expected = analyzer.agreement_of_annotations(cross.copy(), n_majority_vote_1=1)["score"]
    assert metric(report, "alpaca_eval_human_agreement") == pytest.approx(expected)


def test_alpaca_eval_ties_in_the_human_ceiling_score_half() -> None:
    """A human tie against the others' decisive mode earns ½ (AlpacaEval), not 0 (exact match)."""
    from rlaif_audit.auditing.protocols import alpaca_mode, alpaca_score

    others = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 2.0, 0.0]])  # counts of a, b, tie
    assert alpaca_mode(others).tolist() == [1.0, 1.0, 2.0]  # a 1–1–1 split resolves as AlpacaEval's to output_1
    assert alpaca_score(np.array([1.5, 1.5, 1.0]), alpaca_mode(others)).tolist() == [0.5, 0.5, 0.0]


# ----------------------------------------------------------------------------------- length-controlled win rate


def lc_annotations(folder: Path, seed: int = 0) -> tuple[Path, dict[str, pd.DataFrame], pd.Series]:
    """AlpacaEval annotations of two models against one baseline whose judge prefers longer outputs."""
    from reference import alpaca_eval_glm_winrate  # noqa: F401  (imported here: it needs patsy)

    rng = np.random.default_rng(seed)
    n = 160
    difficulty = pd.Series(rng.normal(0, 1, n))
    records, per_model = [], {}
    for model, skill, longest in (("verbose", 0.0, 3000), ("terse", 0.4, 800)):
        rows = []
        for i in range(n):
            len_base, len_model = int(rng.integers(200, 800)), int(rng.integers(200, longest))
            z = skill - 0.8 * difficulty[i] + 2.0 * np.tanh((len_model - len_base) / 600)
            preference = float(2.0 if rng.random() < 1 / (1 + np.exp(-z)) else 1.0)
            if i % 17 == 0:
                preference = 1.5
            rows.append({"instruction": f"Instruction {i}?", "output_1": "b" * len_base,
                         "output_2": f"{model} " + "m" * len_model, "generator_1": "baseline", "generator_2": model,
                         "annotator": "judge", "preference": preference})
        records += rows
        per_model[model] = pd.DataFrame(rows)
    path = folder / "annotations.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path, per_model, difficulty


@pytest.mark.parametrize("with_difficulty", [True, False])
def test_length_controlled_win_rate_matches_alpaca_eval_glm(tmp_path: Path, with_difficulty: bool) -> None:
    """LC win rate per model = AlpacaEval's glm_winrate GLM (noreg with difficulties, minimal without)."""
    from reference.alpaca_eval_glm_winrate import length_controlled_winrate

    path, per_model, difficulty = lc_annotations(tmp_path)
    args = ["audit", path, "--auditors", "win-rates", "--n-bootstrap", 0, "-o", tmp_path / "out"]
    if with_difficulty:
        table = tmp_path / "difficulty.csv"
        pd.DataFrame({"instruction": [f"Instruction {i}?" for i in difficulty.index],
                      "instruction_difficulty": difficulty}).to_csv(table, index=False)
        args[2:2] = ["--instruction-difficulty", table]
    report = run_audit(args)
    section = report["generators"]
    head = {row["generator"]: row for row in section["head_to_head"]}
    glm = "length_controlled_noreg" if with_difficulty else "length_controlled_minimal"
    for model, frame in per_model.items():
        expected = length_controlled_winrate(frame, difficulty, glm)
        assert head[model]["lc_glm"] == glm
        assert head[model]["length_controlled_win_rate"] == pytest.approx(expected["length_controlled_winrate"],
                                                                          rel=1e-6)
        if with_difficulty:
            assert head[model]["lc_standard_error"] == pytest.approx(expected["lc_standard_error"], rel=1e-6)
    verbose = head["verbose"]  # equal skill: the length bias inflates the raw win rate, the LC one is nearer 50
    assert abs(verbose["length_controlled_win_rate"] - 50) < abs(verbose["win_rate"] - 50) - 10
    statement = section["length_controlled"]["statement"]
    assert ("difficulty.csv" in statement) if with_difficulty else ("WITHOUT the difficulty term" in statement)


def test_instruction_difficulty_file_errors_name_file_line_and_field(tmp_path: Path) -> None:
    from rlaif_audit.cli import build_cli

    path, _per_model, _difficulty = lc_annotations(tmp_path)
    table = tmp_path / "difficulty.jsonl"
    table.write_text('{"instruction": "Instruction 0?", "instruction_difficulty": 0.1}\n'
                     '{"instruction": "Instruction 1?", "instruction_difficulty": "hard"}\n', encoding="utf-8")
    result = CliRunner().invoke(build_cli(), ["audit", str(path), "--instruction-difficulty", str(table),
                                              "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "difficulty.jsonl:2: field 'instruction_difficulty': must be a finite number" in result.output
    assert not (tmp_path / "out").exists()
