"""Importers of AlpacaEval and FastChat judgments, format detection, and their win-rate conventions."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from rlaif_audit.auditing.head_to_head import alpaca_eval_head2head, generator_win_rates
from rlaif_audit.data.inputs import AuditInputs, detect_format
from rlaif_audit.default_plugins.importers.alpaca_eval import alpaca_human_labels, read_alpaca_eval
from rlaif_audit.default_plugins.importers.fastchat import fastchat_human_labels, read_fastchat
from rlaif_audit.errors import InputError
from rlaif_audit.records.fileio import read_records

EXTERNAL = Path(__file__).parent / "data" / "external"
ALPACA = EXTERNAL / "alpaca_eval_annotations.json"
ALPACA_HUMAN = EXTERNAL / "alpaca_eval_human.json"
FASTCHAT = EXTERNAL / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl"
FASTCHAT_HUMAN = EXTERNAL / "mt_bench_human_judgments.json"


def _generators(imported):
    return {p.id: (p.metadata["generator_a"], p.metadata["generator_b"]) for p in imported.pairs}


def _annotation(index: int, preference, generator_2: str = "model-x", annotator: str = "alpaca_eval_gpt4") -> dict:
    return {"dataset": "helpful_base", "instruction": f"Question number {index}?", "output_1": f"baseline {index}",
            "generator_1": "text_davinci_003", "output_2": f"model answer {index}", "generator_2": generator_2,
            "annotator": annotator, "preference": preference, "raw_completion": "[]", "time_per_example": 1.0}


def _write_json(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------- detection


def test_detect_format_on_each_real_layout(tmp_path):
    rlaif = tmp_path / "j.jsonl"
    rlaif.write_text(json.dumps({"pair_id": "p1", "order": "ab", "p_first": 0.7}) + "\n")
    assert detect_format(ALPACA) == "alpaca_eval"
    assert detect_format(FASTCHAT) == "fastchat"
    assert detect_format(FASTCHAT_HUMAN) == "fastchat_human"
    assert detect_format(rlaif) == "rlaif"


def test_detect_format_names_the_fields_it_saw(tmp_path):
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"question": 1, "answer": 2}\n')
    with pytest.raises(InputError) as err:
        detect_format(odd)
    assert "answer, question" in str(err.value) and "odd.jsonl:1" in str(err.value)


def test_empty_and_truncated_files_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(InputError, match="is empty"):
        read_records(empty)
    truncated = tmp_path / "cut.json"
    truncated.write_text('[\n  {"a": 1},\n  {"b": ')
    with pytest.raises(InputError) as err:
        read_records(truncated)
    assert "cut.json:3" in str(err.value)


def test_json_array_errors_name_the_line_where_the_record_starts(tmp_path):
    records = [_annotation(i, 2.0) for i in range(3)]
    records[2]["preference"] = 3.0
    path = _write_json(tmp_path / "annotations.json", records)
    start_line = path.read_text().splitlines().index("  {", 20) + 1  # the third record's opening brace
    with pytest.raises(InputError) as err:
        read_alpaca_eval(path)
    assert f"annotations.json:{start_line}: field 'preference'" in str(err.value)


# ----------------------------------------------------------------------------------------------- AlpacaEval


def test_alpaca_eval_becomes_one_order_judgments():
    imported = read_alpaca_eval(ALPACA)
    pairs, judgments, labels = imported
    assert len(pairs) == 8 and labels == []
    assert set(judgments["order"]) == {"ab"}, "AlpacaEval keeps one un-swapped verdict per pair"
    assert pairs[0].metadata["generator_a"] == "text_davinci_003" and pairs[0].metadata["generator_b"] == "tiny-model"
    assert pairs[0].context == [{"role": "user", "content": "What are the names of some famous actors that started "
                                                            "their careers on Broadway?"}]
    by_pair = judgments.set_index("pair_id")
    expected_p_first = [0.0, 1.0, 0.0, 0.5, 0.5, 0.75, None, 0.0]  # 2 - preference; 0 is an old tie
    for pair, expected in zip(pairs, expected_p_first, strict=True):
        row = by_pair.loc[pair.id]
        if expected is None:
            assert row["parse_status"] == "failed" and math.isnan(row["p_first"])
        else:
            assert row["parse_status"] == "ok" and row["p_first"] == pytest.approx(expected)
    assert set(judgments["evaluator"]) == {"alpaca_eval_gpt4"} and judgments["evaluator_id"].nunique() == 1
    assert any("null/NaN preference" in w for w in imported.warnings)


def test_alpaca_eval_win_rate_matches_the_formula_by_hand():
    """AlpacaEval get_winrate: x = preference - 1 (0 → draw 1.5, null dropped); 100·mean(x), 100·sem(x)."""
    imported = read_alpaca_eval(ALPACA)
    rates = generator_win_rates(imported.judgments, _generators(imported), "alpaca_eval")
    (row,) = rates["head_to_head"]
    # preferences 2, 1, 2, 1.5, 0 (→1.5), 1.25, null (dropped), 2  →  x = 1, 0, 1, .5, .5, .25, 1
    x = [1, 0, 1, 0.5, 0.5, 0.25, 1]
    mean = sum(x) / 7  # 4.25 / 7
    sem = math.sqrt(sum((v - mean) ** 2 for v in x) / 6 / 7)
    assert (row["generator"], row["baseline"]) == ("tiny-model", "text_davinci_003")
    assert row["win_rate"] == pytest.approx(100 * 4.25 / 7, abs=1e-12)
    assert row["standard_error"] == pytest.approx(100 * sem, abs=1e-12)
    assert (row["n_wins"], row["n_wins_base"], row["n_draws"], row["n_total"]) == (3, 2, 2, 7)
    assert row["discrete_win_rate"] == pytest.approx(100 * 4 / 7, abs=1e-12)  # 1.25 rounds to 1
    assert row["ci"] == pytest.approx([row["win_rate"] - 1.959963984540054 * row["standard_error"],
                                      row["win_rate"] + 1.959963984540054 * row["standard_error"]])


# Published AlpacaEval rows (tatsu-lab/alpaca_eval, alpaca_eval_gpt4 annotator, discrete preferences):
# leaderboards/data_AlpacaEval/alpaca_eval_gpt4_leaderboard.csv and
# results/Mistral-7B-LoRA-RAHF-DUAL/alpaca_eval_gpt4/leaderboard.csv.
PUBLISHED = [
    ("gpt4_1106_preview", 783, 16, 5, 804, 97.69900497512438, 0.5104849118311993),
    ("mistral-medium", 779, 25, 1, 805, 96.83229813664596, 0.6145319996386234),
    ("pairrm-tulu-2-70b", 767, 37, 0, 804, 95.39800995024876, 0.7394089832625841),
    ("mistral", 308, 19, 0, 327, 94.18960244648318, 1.295673588493465),
]


@pytest.mark.parametrize("name, wins, base, draws, total, win_rate, standard_error", PUBLISHED)
def test_alpaca_eval_reproduces_published_leaderboard_rows(tmp_path, name, wins, base, draws, total, win_rate,
                                                           standard_error):
    preferences = [2.0] * wins + [1.0] * base + [1.5] * draws + [None] * (max(total, 805) - total)
    path = _write_json(tmp_path / "annotations.json", [_annotation(i, p, name) for i, p in enumerate(preferences)])
    imported = read_alpaca_eval(path)
    (row,) = generator_win_rates(imported.judgments, _generators(imported), "alpaca_eval")["head_to_head"]
    assert row["win_rate"] == pytest.approx(win_rate, rel=1e-12)
    assert row["standard_error"] == pytest.approx(standard_error, rel=1e-12)
    assert row["discrete_win_rate"] == pytest.approx(win_rate, rel=1e-12)
    assert (row["n_wins"], row["n_wins_base"], row["n_draws"], row["n_total"]) == (wins, base, draws, total)
    assert imported.judgments["p_first"].isna().all(), "a ranking annotator gives verdicts, not probabilities"


def test_alpaca_head2head_edge_cases():
    assert alpaca_eval_head2head([None, None])["n_total"] == 0
    assert alpaca_eval_head2head([None])["win_rate"] is None
    one = alpaca_eval_head2head([2.0])
    assert one["win_rate"] == 100.0 and one["standard_error"] is None and one["ci"] is None
    # 0 counts as a draw before anything is dropped; 1.5 after rounding stays a draw
    assert alpaca_eval_head2head([0, 1.5, 2])["n_draws"] == 2


@pytest.mark.parametrize("change, field", [
    ({"preference": 2.5}, "preference"),
    ({"preference": "2"}, "preference"),
    ({"output_1": None}, "output_1"),
    ({"output_2": 7}, "output_2"),
])
def test_alpaca_eval_bad_fields_name_line_and_field(tmp_path, change, field):
    records = [_annotation(0, 2.0), {**_annotation(1, 1.0), **change}]
    path = tmp_path / "annotations.jsonl"  # the JSONL variant: one annotation per line
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    with pytest.raises(InputError) as err:
        read_alpaca_eval(path)
    assert f"annotations.jsonl:2: field '{field}'" in str(err.value)


def test_alpaca_eval_two_annotators_in_one_file_is_an_error(tmp_path):
    path = _write_json(tmp_path / "a.json", [_annotation(0, 2.0), _annotation(1, 1.0, annotator="chatgpt_fn")])
    with pytest.raises(InputError, match="2 different evaluators"):
        AuditInputs.from_file(str(path))  # the one validation of every importer's judgments


def test_alpaca_eval_human_annotations_match_either_way_round():
    imported = read_alpaca_eval(ALPACA)
    labels, warnings = alpaca_human_labels(ALPACA_HUMAN, imported.pairs)
    by_instruction = {p.context[0]["content"]: p.id for p in imported.pairs}
    broadway = by_instruction["What are the names of some famous actors that started their careers on Broadway?"]
    states = by_instruction["How did US states get their names?"]
    assert [(lab.preferred, lab.annotator) for lab in labels if lab.pair_id == broadway] == [("b", "0"), ("a", "1")]
    # the human file shows the two outputs swapped: its preference 2 is the annotations' output_1 → A
    assert [lab.preferred for lab in labels if lab.pair_id == states] == ["a"]
    assert warnings and "1 human labels" in warnings[0]


# ------------------------------------------------------------------------------------------------- FastChat


def test_fastchat_becomes_both_orders_of_verdicts():
    imported = read_fastchat(FASTCHAT)
    assert len(imported.pairs) == 8 and len(imported.judgments) == 16
    assert imported.judgments["p_first"].isna().all(), "FastChat records verdicts, not probabilities"
    wide = imported.judgments.pivot(index="pair_id", columns="order", values="verdict")
    first = "mt-81-t1-vicuna-13b-v1.3-vs-gpt-3.5-turbo"
    assert (wide.loc[first, "ab"], wide.loc[first, "ba"]) == ("first", "second")  # model_1 wins both games
    by_key = imported.judgments.set_index(["pair_id", "order"])
    errored = by_key.loc[("mt-101-t2-vicuna-13b-v1.3-vs-gpt-3.5-turbo", "ba")]
    assert errored["parse_status"] == "failed"
    assert set(imported.judgments["evaluator"]) == {"gpt-4"}


def test_fastchat_texts_come_from_the_bench_folder():
    pairs = {p.id: p for p in read_fastchat(FASTCHAT).pairs}
    turn_2 = pairs["mt-81-t2-vicuna-13b-v1.3-vs-gpt-3.5-turbo"]
    assert turn_2.context == [{"role": "user", "content": "Rewrite your previous response. Start every sentence "
                                                          "with the letter A."}]
    assert turn_2.a.startswith("A luau on Oahu") and turn_2.b.startswith("Aloha spirit")
    assert turn_2.metadata["history_a"][0].startswith("Aloha! My trip") and turn_2.metadata["turn"] == 2
    assert turn_2.metadata["category"] == "writing" and not turn_2.metadata["texts_missing"]


def test_fastchat_without_its_bench_folder_keeps_empty_texts_and_warns(tmp_path):
    alone = shutil.copy(FASTCHAT, tmp_path / "gpt-4_pair.jsonl")
    imported = read_fastchat(alone)
    assert all(p.metadata["texts_missing"] and p.a == "" for p in imported.pairs)
    assert any("no question/answer texts" in w for w in imported.warnings)
    with pytest.raises(InputError, match="not a FastChat bench folder"):
        read_fastchat(alone, data_dir=tmp_path)
    with_dir = read_fastchat(alone, data_dir=EXTERNAL / "mt_bench")
    assert not any(p.metadata["texts_missing"] for p in with_dir.pairs)


def test_fastchat_win_rates_follow_show_result():
    """FastChat show_result (pairwise-baseline): a win needs both games; a tie in game 1 or a split is a tie."""
    imported = read_fastchat(FASTCHAT)
    rates = generator_win_rates(imported.judgments, _generators(imported), "fastchat")
    head = {row["generator"]: row for row in rates["head_to_head"]}
    assert {row["baseline"] for row in rates["head_to_head"]} == {"gpt-3.5-turbo"}
    # vicuna: win (q81t1), loss (q81t2), split (q82) → tie, game-1 tie (q101t1) → tie; q101t2 has an error → dropped
    assert head["vicuna-13b-v1.3"]["win_rate"] == pytest.approx(100 * (1 + 0.5 * 2) / 4)
    assert (head["vicuna-13b-v1.3"]["n_wins"], head["vicuna-13b-v1.3"]["n_draws"]) == (1, 2)
    assert head["vicuna-13b-v1.3"]["standard_error"] == pytest.approx(100 * math.sqrt(0.5 / 3 / 4))
    # alpaca: loss, tie (model_1 vs tie), loss
    assert head["alpaca-13b"]["win_rate"] == pytest.approx(100 * 0.5 / 3)
    per = {row["generator"]: row for row in rates["per_generator"]}
    assert per["gpt-3.5-turbo"]["win_rate"] == pytest.approx(100 * 4.5 / 7)
    assert per["gpt-3.5-turbo"]["n_losses"] == 1


def test_fastchat_repeated_match_counts_every_line(tmp_path):
    lines = FASTCHAT.read_text().splitlines()
    repeat = json.loads(lines[0])
    repeat["g1_winner"], repeat["g2_winner"] = "model_2", "model_2"
    path = tmp_path / "gpt-4_pair.jsonl"
    path.write_text("\n".join(lines + [json.dumps(repeat)]) + "\n")
    imported = read_fastchat(path, data_dir=EXTERNAL / "mt_bench")
    assert len(imported.pairs) == 9
    by_key = imported.judgments.set_index(["pair_id", "order"])
    assert by_key.loc[("mt-81-t1-vicuna-13b-v1.3-vs-gpt-3.5-turbo", "ab"), "verdict"] == "first"
    assert by_key.loc[("mt-81-t1-vicuna-13b-v1.3-vs-gpt-3.5-turbo-r2", "ab"), "verdict"] == "second"
    assert any("line 9 repeats the match on line 1; both are counted" in w for w in imported.warnings)


def test_fastchat_unknown_winner_names_line_and_field(tmp_path):
    record = json.loads(FASTCHAT.read_text().splitlines()[0])
    record["g2_winner"] = "model_3"
    path = tmp_path / "x_pair.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError) as err:
        read_fastchat(path)
    assert "x_pair.jsonl:1: field 'g2_winner'" in str(err.value) and "model_1, model_2, tie, error" in str(err.value)


def test_fastchat_human_judgments_map_to_pair_sides():
    imported = read_fastchat(FASTCHAT)
    labels, warnings = fastchat_human_labels(FASTCHAT_HUMAN, imported.pairs)
    got = {(lab.pair_id, lab.annotator): lab.preferred for lab in labels}
    # model_a/model_b are swapped relative to the pair: the human's model_b (vicuna) is the pair's A
    assert got[("mt-81-t1-vicuna-13b-v1.3-vs-gpt-3.5-turbo", "expert_0")] == "a"
    assert got[("mt-81-t1-vicuna-13b-v1.3-vs-gpt-3.5-turbo", "author_2")] == "b"
    assert got[("mt-81-t1-alpaca-13b-vs-gpt-3.5-turbo", "expert_3")] == "tie"  # "tie (bothbad)"
    assert got[("mt-81-t2-vicuna-13b-v1.3-vs-gpt-3.5-turbo", "expert_0")] == "b"
    assert len(labels) == 6 and warnings == [
        f"1 human labels in {FASTCHAT_HUMAN} match no judged pair and were ignored"]
