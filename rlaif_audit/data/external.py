"""Import judgments made elsewhere (AlpacaEval, FastChat llm_judge) and compute generator win rates as they do."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rlaif_audit.errors import InputError
from rlaif_audit.records.fileio import json_line
from rlaif_audit.records.preference import P_FIRST_OF_VERDICT, position_debiased, verdict_from_p
from rlaif_audit.records.provenance import file_hash, stable_hash
from rlaif_audit.records.types import HumanLabel, PreferencePair

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("rlaif", "alpaca_eval", "fastchat")
HUMAN_FORMATS = ("rlaif", "alpaca_eval", "fastchat_human")

_SIGNATURES: list[tuple[str, frozenset[str]]] = [
    ("fastchat", frozenset({"g1_winner", "g2_winner"})),
    ("fastchat_human", frozenset({"model_a", "model_b", "winner"})),
    ("rlaif", frozenset({"pair_id", "order"})),
    ("rlaif_human", frozenset({"pair_id", "preferred"})),
    ("alpaca_eval", frozenset({"output_1", "output_2", "preference"})),
]
_EXPECTED = (
    "rlaif-audit judgments (pair_id, order, p_first), AlpacaEval annotations (instruction, output_1, output_2, "
    "preference) or FastChat pairwise judgments (question_id, model_1, model_2, g1_winner, g2_winner)"
)


@dataclass
class Imported:
    """Pairs, judgments and human labels read from another tool's file; unpacks as (pairs, judgments, labels)."""

    pairs: list[PreferencePair]
    judgments: pd.DataFrame
    labels: list[HumanLabel]
    format: str
    source: str
    data_hash: str
    warnings: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.pairs, self.judgments, self.labels))


# ----------------------------------------------------------------------------------------------- reading records


def _read_text(path: Path | str) -> str:
    if not Path(path).is_file():
        raise InputError(str(path), "file not found")
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _json_array(path: str, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, element) of a JSON array, so errors can name the line where each record starts."""
    decoder = json.JSONDecoder()
    idx = text.index("[") + 1
    line = text.count("\n", 0, idx) + 1
    while True:
        nxt = _skip_space(text, idx)
        line += text.count("\n", idx, nxt)
        if nxt >= len(text):
            raise InputError(path, "the JSON array is not closed (truncated file?)", line=line)
        if text[nxt] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, nxt)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
        yield line, value
        line += text.count("\n", nxt, end)
        idx = _skip_space(text, end)
        line += text.count("\n", end, idx)
        if idx < len(text) and text[idx] == ",":
            idx += 1
        elif idx < len(text) and text[idx] != "]":
            raise InputError(path, f"expected ',' or ']' between records, got {text[idx]!r}", line=line)


def _skip_space(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in " \t\r\n":
        idx += 1
    return idx


def _json_lines(path: str, text: str) -> Iterator[tuple[int, Any]]:
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield line_no, json_line(path, line_no, raw)


def read_records(path: Path | str) -> list[tuple[int, dict[str, Any]]]:
    """(line, object) records of a JSON array file or a JSONL file; each must be a JSON object."""
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise InputError(str(path), "is empty")
    reader = _json_array if stripped.startswith("[") else _json_lines
    records = list(reader(str(path), text))
    for line, record in records:
        if not isinstance(record, dict):
            raise InputError(str(path), f"each record must be a JSON object, got {type(record).__name__}", line=line)
    if not records:
        raise InputError(str(path), "holds no records (empty JSON array)")
    return records


def detect_format(path: Path | str) -> str:
    """Which format a judgments or labels file is in, from its first record's fields."""
    line, first = read_records(path)[0]
    keys = set(first)
    for name, needed in _SIGNATURES:
        if needed <= keys:
            return name
    shown = ", ".join(sorted(keys)[:12])
    raise InputError(str(path), f"cannot tell the format from the fields ({shown}); expected {_EXPECTED}", line=line)


# ------------------------------------------------------------------------------------------------- field checks


def _text(path: str, line: int, record: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if name not in record:
        raise InputError(path, "is missing", line=line, field=name)
    if not isinstance(value, str):
        raise InputError(path, f"must be a string, got {type(value).__name__}", line=line, field=name)
    return value


def _alpaca_preference(path: str, line: int, record: dict[str, Any]) -> float | None:
    """AlpacaEval's preference as a float in [1, 2]; 0 (old tie) becomes 1.5; null/NaN means unparsed."""
    if "preference" not in record:
        raise InputError(path, "is missing", line=line, field="preference")
    value = record["preference"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"must be a number, got {value!r}", line=line, field="preference")
    if value == 0:
        return 1.5
    if not 1.0 <= value <= 2.0:
        raise InputError(
            path, f"must be in [1, 2] (1: output_1 better, 2: output_2 better, 1.5 or 0: draw, null: "
            f"unparsed), got {value!r}", line=line, field="preference",
        )
    return float(value)


# --------------------------------------------------------------------------------------------------- AlpacaEval


def _alpaca_instruction(path: str, line: int, record: dict[str, Any]) -> str:
    instruction = _text(path, line, record, "instruction") or ""
    extra = record.get("input")
    return f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction


def alpaca_pair_id(instruction: str, output_1: str, output_2: str, generators: tuple[Any, Any]) -> str:
    """A stable pair id for an AlpacaEval annotation (same texts and generators → same id)."""
    return "ae-" + stable_hash([instruction, output_1, output_2, list(generators)], length=16)


def _alpaca_pair(path: str, line: int, record: dict[str, Any]) -> PreferencePair:
    instruction = _alpaca_instruction(path, line, record)
    out_1, out_2 = _text(path, line, record, "output_1") or "", _text(path, line, record, "output_2") or ""
    gens = (_text(path, line, record, "generator_1", False), _text(path, line, record, "generator_2", False))
    meta = {"source_format": "alpaca_eval", "generator_a": gens[0], "generator_b": gens[1],
            "presentation_order_known": False}
    if isinstance(record.get("dataset"), str):
        meta["dataset"] = record["dataset"]
    return PreferencePair(alpaca_pair_id(instruction, out_1, out_2, gens), [{"role": "user", "content": instruction}],
                          out_1, out_2, meta)


def _alpaca_judgment(path: str, line: int, record: dict[str, Any], pair_id: str) -> dict[str, Any]:
    preference = _alpaca_preference(path, line, record)
    p_first = None if preference is None else 2.0 - preference
    raw = record.get("raw_completion")
    latency = record.get("time_per_example")
    return {
        "pair_id": pair_id, "order": "ab", "p_first": p_first, "verdict": verdict_from_p(p_first),
        "parse_status": "failed" if preference is None else "ok",
        "raw": raw if isinstance(raw, str) or raw is None else json.dumps(raw, ensure_ascii=False),
        "latency_s": float(latency) if isinstance(latency, (int, float)) and not isinstance(latency, bool) else 0.0,
        "evaluator": str(record.get("annotator") or "alpaca_eval"),
    }


def read_alpaca_eval(path: Path | str) -> Imported:
    """AlpacaEval ``annotations.json`` → one pair and one (order ``ab``) judgment per annotation.

    ``preference``: 1 (output_1 better), 2 (output_2 better), in between for the weighted (AlpacaEval 2)
    annotators, 1.5 or 0 (older versions) for a draw, null/NaN when unparsed. AlpacaEval shows the outputs in
    a random order and stores the preference un-swapped, so the order shown is not recorded: the judgment is
    order ``ab`` with ``p_first = 2 − preference`` = P(output_1 better). A file of only 1/1.5/2/0 comes from a
    ranking annotator: its judgments keep the verdict and leave ``p_first`` empty (no probabilities).
    """
    path_str = str(path)
    pairs: dict[str, PreferencePair] = {}
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for line, record in read_records(path):
        pair = _alpaca_pair(path_str, line, record)
        if pair.id in pairs:
            raise InputError(path_str, f"the same annotation (instruction, outputs, generators) appears twice "
                             f"(first on line {first_line[pair.id]})", line=line, field="instruction")
        pairs[pair.id], first_line[pair.id] = pair, line
        rows.append(_alpaca_judgment(path_str, line, record, pair.id))
    judgments = _judgment_frame(path_str, rows, "alpaca_eval")
    if judgments["p_first"].dropna().isin([0.0, 0.5, 1.0]).all():  # a ranking annotator: verdicts, no probabilities
        judgments["p_first"] = None
    warnings = _failed_warning(judgments, "annotations have a null/NaN preference (unparsed); AlpacaEval drops them")
    return Imported(list(pairs.values()), judgments, [], "alpaca_eval", path_str, file_hash(path), warnings)


def _failed_warning(judgments: pd.DataFrame, what: str) -> list[str]:
    failed = int((judgments["parse_status"] == "failed").sum())
    return [f"{failed} {what}"] if failed else []


def _judgment_frame(path: str, rows: list[dict[str, Any]], source: str) -> pd.DataFrame:
    """Rows → a judgments DataFrame in rlaif-audit's columns; one evaluator per file."""
    import pandas as pd

    from rlaif_audit.data.judgment_file import JUDGMENT_FIELDS

    names = sorted({row["evaluator"] for row in rows})
    if len(names) > 1:
        raise InputError(path, f"holds judgments of {len(names)} different evaluators ({', '.join(names)}); "
                         "audit one evaluator at a time (split the file)", field="annotator" if source ==
                         "alpaca_eval" else "judge")
    evaluator_id = stable_hash({"source": source, "evaluator": names[0]})
    for row in rows:
        row["evaluator_id"] = evaluator_id
    return pd.DataFrame.from_records(rows).reindex(columns=JUDGMENT_FIELDS)


# ------------------------------------------------------------------------------------------------------ FastChat

_FASTCHAT_P_FIRST = {  # game → winner → P(first shown is better)
    "ab": {"model_1": 1.0, "model_2": 0.0, "tie": 0.5},
    "ba": {"model_2": 1.0, "model_1": 0.0, "tie": 0.5},
}


def fastchat_pair_id(question_id: Any, turn: int, model_1: str, model_2: str) -> str:
    """The pair id of one FastChat pairwise match."""
    return f"mt-{question_id}-t{turn}-{model_1}-vs-{model_2}"


def _fastchat_judge(path: str, line: int, record: dict[str, Any]) -> tuple[str, str]:
    judge = record.get("judge")
    if isinstance(judge, list) and len(judge) >= 1 and all(isinstance(part, str) for part in judge):
        return judge[0], (judge[1] if len(judge) > 1 else "")
    if isinstance(judge, str):
        return judge, ""
    raise InputError(path, f"must be [judge model, prompt name], got {judge!r}", line=line, field="judge")


def _fastchat_key(path: str, line: int, record: dict[str, Any]) -> tuple[Any, int, str, str]:
    qid = record.get("question_id", record.get("id"))
    if qid is None:
        raise InputError(path, "is missing", line=line, field="question_id")
    turn = record.get("turn", 1)
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 1:
        raise InputError(path, f"must be a positive integer, got {turn!r}", line=line, field="turn")
    m1, m2 = _text(path, line, record, "model_1") or "", _text(path, line, record, "model_2") or ""
    return qid, turn, m1, m2


def _fastchat_winner(path: str, line: int, record: dict[str, Any], game: str) -> float | None:
    name = "g1_winner" if game == "ab" else "g2_winner"
    winner = record.get(name)
    if winner == "error":
        return None
    if winner not in _FASTCHAT_P_FIRST[game]:
        raise InputError(path, f"unknown winner {winner!r}; valid: model_1, model_2, tie, error", line=line,
                         field=name)
    return _FASTCHAT_P_FIRST[game][winner]


def _fastchat_rows(path: str, line: int, record: dict[str, Any], pair_id: str) -> list[dict[str, Any]]:
    judge_model, _prompt = _fastchat_judge(path, line, record)
    rows = []
    for game, judgment_field in (("ab", "g1_judgment"), ("ba", "g2_judgment")):
        p_first = _fastchat_winner(path, line, record, game)
        raw = record.get(judgment_field)
        rows.append({  # FastChat records verdicts only: p_first stays empty, the verdict carries the choice
            "pair_id": pair_id, "order": game, "p_first": None, "verdict": verdict_from_p(p_first),
            "parse_status": "failed" if p_first is None else "ok", "raw": raw if isinstance(raw, str) else None,
            "latency_s": 0.0, "evaluator": judge_model,
        })
    return rows


class FastChatTexts:
    """Questions and model answers of a FastChat bench folder (``question.jsonl``, ``model_answer/<model>.jsonl``)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.questions = self._load(folder / "question.jsonl", "question_id") if folder else {}
        self.answers: dict[str, dict[Any, Any]] = {}

    @staticmethod
    def _load(path: Path, key: str) -> dict[Any, dict[str, Any]]:
        if not path.is_file():
            return {}
        return {record.get(key): record for _, record in read_records(path) if key in record}

    def answer_turns(self, model: str, question_id: Any) -> list[str] | None:
        if model not in self.answers:
            path = self.folder / "model_answer" / f"{model}.jsonl" if self.folder else None
            self.answers[model] = self._load(path, "question_id") if path else {}
        record = self.answers[model].get(question_id)
        try:
            return [str(turn) for turn in record["choices"][0]["turns"]] if record else None
        except (KeyError, IndexError, TypeError):
            return None

    def question_turns(self, question_id: Any) -> list[str] | None:
        record = self.questions.get(question_id)
        turns = record.get("turns") if record else None
        return [str(t) for t in turns] if isinstance(turns, list) else None


def fastchat_folder(judgments_path: Path, data_dir: Path | str | None) -> Path | None:
    """The bench folder holding question.jsonl: ``data_dir`` or, in FastChat's layout, two levels up."""
    if data_dir is not None:
        folder = Path(data_dir)
        if not (folder / "question.jsonl").is_file():
            raise InputError(str(folder), "is not a FastChat bench folder (no question.jsonl in it)")
        return folder
    guess = judgments_path.resolve().parent.parent
    return guess if (guess / "question.jsonl").is_file() else None


def _fastchat_pair(key: tuple[Any, int, str, str], texts: FastChatTexts, prompt: str) -> PreferencePair:
    qid, turn, m1, m2 = key
    questions = texts.question_turns(qid)
    ans_1, ans_2 = texts.answer_turns(m1, qid), texts.answer_turns(m2, qid)
    complete = bool(questions and ans_1 and ans_2 and len(questions) >= turn and len(ans_1) >= turn
                    and len(ans_2) >= turn)
    meta: dict[str, Any] = {"source_format": "fastchat", "generator_a": m1, "generator_b": m2, "question_id": qid,
                            "turn": turn, "judge_prompt": prompt, "texts_missing": not complete}
    if not complete:
        return PreferencePair(fastchat_pair_id(*key), [], "", "", meta)
    category = texts.questions.get(qid, {}).get("category")
    if category:
        meta["category"] = category
    if turn > 1:  # each model's own earlier answers: the judge saw two different conversations
        meta["history_a"], meta["history_b"] = ans_1[: turn - 1], ans_2[: turn - 1]
        meta["earlier_questions"] = questions[: turn - 1]
    context = [{"role": "user", "content": questions[turn - 1]}]
    return PreferencePair(fastchat_pair_id(*key), context, ans_1[turn - 1], ans_2[turn - 1], meta)


def read_fastchat(path: Path | str, data_dir: Path | str | None = None) -> Imported:
    """FastChat llm_judge pairwise judgments → pairs and both orders' judgments (verdicts, no probabilities).

    ``g1_winner`` is the game showing model_1 first (order ``ab``), ``g2_winner`` the one showing model_2 first
    (order ``ba``); FastChat has already mapped both to ``model_1``/``model_2``/``tie``/``error``. Texts come
    from the bench folder (``data_dir`` or FastChat's layout around the file); without it they stay empty.
    A match repeated in the file keeps its last line, as FastChat's show_result does.
    """
    path_str = str(path)
    texts = FastChatTexts(fastchat_folder(Path(path), data_dir))
    latest: dict[tuple[Any, int, str, str], tuple[int, dict[str, Any]]] = {}
    warnings: list[str] = []
    for line, record in read_records(path):
        if "g1_winner" not in record or "g2_winner" not in record:
            raise InputError(path_str, "is missing (not a FastChat pairwise judgment)", line=line, field="g1_winner")
        key = _fastchat_key(path_str, line, record)
        if key in latest:
            warnings.append(f"line {line} repeats the match on line {latest[key][0]}; the later one is kept, "
                            "as FastChat's show_result does")
        latest[key] = (line, record)
    pairs, rows = [], []
    for key, (line, record) in latest.items():
        pair = _fastchat_pair(key, texts, _fastchat_judge(path_str, line, record)[1])
        pairs.append(pair)
        rows.extend(_fastchat_rows(path_str, line, record, pair.id))
    judgments = _judgment_frame(path_str, rows, "fastchat")
    warnings += _fastchat_text_warning(pairs, texts) + _failed_warning(judgments, "FastChat games are 'error'")
    return Imported(pairs, judgments, [], "fastchat", path_str, file_hash(path), warnings)


def _fastchat_text_warning(pairs: list[PreferencePair], texts: FastChatTexts) -> list[str]:
    missing = sum(1 for pair in pairs if pair.metadata["texts_missing"])
    if not missing:
        return []
    where = f"in {texts.folder}" if texts.folder else "(pass --data with the FastChat bench folder)"
    return [f"{missing} of {len(pairs)} pairs have no question/answer texts {where}; their length and list "
            "effects cannot be measured"]


# --------------------------------------------------------------------------------------------------- human labels


def _fastchat_winner_label(path: str, line: int, winner: Any, flipped: bool) -> str:
    if isinstance(winner, str) and winner.startswith("tie"):
        return "tie"
    if winner not in ("model_a", "model_b"):
        raise InputError(path, f"unknown winner {winner!r}; valid: model_a, model_b, tie", line=line, field="winner")
    first = winner == "model_a"
    return "a" if first != flipped else "b"


def _pair_index(pairs: Sequence[PreferencePair]) -> dict[tuple[Any, int, frozenset[str]], PreferencePair]:
    index = {}
    for pair in pairs:
        meta = pair.metadata
        if meta.get("question_id") is not None:
            models = frozenset({meta.get("generator_a"), meta.get("generator_b")})
            index[(meta["question_id"], int(meta.get("turn", 1)), models)] = pair
    return index


def fastchat_human_labels(path: Path | str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
    """FastChat MT-Bench human judgments matched to FastChat pairs by (question_id, turn, the two models)."""
    index = _pair_index(pairs)
    labels, unmatched = [], 0
    for line, vote in read_records(path):
        for name in ("question_id", "model_a", "model_b", "winner"):
            if name not in vote:
                raise InputError(str(path), "is missing", line=line, field=name)
        pair = index.get((vote["question_id"], int(vote.get("turn", 1)), frozenset({vote["model_a"], vote["model_b"]})))
        if pair is None:
            unmatched += 1
            continue
        flipped = vote["model_a"] != pair.metadata.get("generator_a")
        preferred = _fastchat_winner_label(str(path), line, vote["winner"], flipped)
        labels.append(HumanLabel(pair.id, preferred, str(vote.get("judge", "human"))))  # type: ignore[arg-type]
    return labels, _unmatched_warning(path, unmatched)


def _unmatched_warning(path: Path | str, unmatched: int) -> list[str]:
    return [f"{unmatched} human labels in {path} match no judged pair and were ignored"] if unmatched else []


def alpaca_human_labels(path: Path | str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
    """AlpacaEval human annotations matched to pairs by (instruction, output_1, output_2) text, either way round."""
    by_text: dict[tuple[str, str, str], PreferencePair] = {}
    for pair in pairs:
        instruction = pair.context[-1]["content"] if pair.context else ""
        by_text[(instruction, pair.a, pair.b)] = pair
    labels, unmatched = [], 0
    for line, record in read_records(path):
        instruction = _alpaca_instruction(str(path), line, record)
        out_1, out_2 = (_text(str(path), line, record, name) or "" for name in ("output_1", "output_2"))
        pair, flipped = by_text.get((instruction, out_1, out_2)), False
        if pair is None:
            pair, flipped = by_text.get((instruction, out_2, out_1)), True
        preference = _alpaca_preference(str(path), line, record)
        if pair is None or preference is None:
            unmatched += pair is None
            continue
        preferred = "tie" if preference == 1.5 else ("a" if (preference < 1.5) != flipped else "b")
        annotator = record.get("annotator_index", record.get("annotator", "human"))
        labels.append(HumanLabel(pair.id, preferred, str(annotator)))  # type: ignore[arg-type]
    return labels, _unmatched_warning(path, unmatched)


def read_external_human(path: Path | str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
    """Human labels from ``--human``: rlaif-audit labels JSONL, FastChat human judgments or AlpacaEval annotations."""
    kind = detect_format(path)
    if kind == "fastchat_human":
        return fastchat_human_labels(path, pairs)
    if kind == "alpaca_eval":
        return alpaca_human_labels(path, pairs)
    if kind == "rlaif_human":
        from rlaif_audit.data.readers import read_human_labels

        return list(read_human_labels(str(path))), []
    raise InputError(str(path), f"looks like {kind} judgments, not human labels; expected rlaif-audit labels "
                     "(pair_id, preferred, annotator), FastChat human judgments (question_id, model_a, model_b, "
                     "winner, judge) or AlpacaEval human annotations (instruction, output_1, output_2, preference)")


def read_external(path: Path | str, fmt: str, data_dir: Path | str | None = None) -> Imported:
    """Read an AlpacaEval or FastChat judgments file (``fmt`` as resolved by :func:`detect_format`)."""
    if fmt == "alpaca_eval":
        if data_dir is not None:
            raise InputError(str(data_dir), "--data is not used with AlpacaEval annotations: they hold their "
                             "own texts; pass human labels with --human")
        return read_alpaca_eval(path)
    if fmt == "fastchat":
        return read_fastchat(path, data_dir)
    raise InputError(str(path), f"unknown external format {fmt!r}; valid: alpaca_eval, fastchat")


# ------------------------------------------------------------------------------------------------------ win rates


def alpaca_eval_head2head(preferences: Sequence[float | None]) -> dict[str, Any]:
    """AlpacaEval's ``get_winrate`` on preferences in its encoding (1: baseline wins, 2: model wins, 1.5/0: draw).

    Reproduces ``alpaca_eval.metrics.winrate.get_winrate`` (``AbsoluteScoringRule().describe_head2head`` and, for
    ``discrete_win_rate``, ``ZeroOneScoringRule``), alpaca_eval 0.6.x:
      * 0 is an old encoding of a draw and becomes 1.5; ``n_draws`` counts 1.5 (and 0) before anything is dropped;
      * values outside [1, 2] and NaN are dropped;
      * ``x = preference - 1``; ``win_rate = 100·mean(x)``; ``standard_error = 100·sem(x)`` (sample sd, ddof=1,
        divided by √n); ``n_wins = #(x > 0.5)``, ``n_wins_base = #(x < 0.5)``, ``n_total`` = kept annotations;
      * ``discrete_win_rate``: the same after rounding each preference to 1 or 2 (a draw stays 1.5).
    The 95% CI added here is the normal interval win_rate ± 1.96·standard_error, clipped to [0, 100].
    """
    import numpy as np

    if isinstance(preferences, np.ndarray) and preferences.dtype.kind == "f":
        values = preferences.astype(float, copy=True)
    else:
        values = np.array([np.nan if p is None else float(p) for p in preferences], dtype=float)
    values[values == 0.0] = 1.5
    out = _head2head(values)
    discrete = values.copy()
    decisive = (discrete != 1.5) & ~np.isnan(discrete)
    discrete[decisive] = np.round(discrete[decisive])  # numpy rounds halves to even, as pandas' Series.round
    out["discrete_win_rate"] = _head2head(discrete)["win_rate"]
    return out


def _head2head(values: Any) -> dict[str, Any]:
    import numpy as np

    from rlaif_audit.auditing.stats import Z95

    n_draws = int(np.sum(values == 1.5))
    kept = values[(values >= 1.0) & (values <= 2.0)] - 1.0
    n_total = int(kept.size)
    win_rate = float(kept.mean() * 100) if n_total else None
    sem = float(kept.std(ddof=1) / math.sqrt(n_total) * 100) if n_total > 1 else None
    ci = None if win_rate is None or sem is None else [max(0.0, win_rate - Z95 * sem), min(100.0, win_rate + Z95 * sem)]
    return {"win_rate": win_rate, "standard_error": sem, "ci": ci, "n_wins": int(np.sum(kept > 0.5)),
            "n_wins_base": int(np.sum(kept < 0.5)), "n_draws": n_draws, "n_total": n_total}


def pair_scores_b(judgments: pd.DataFrame, rule: str) -> pd.Series:
    """Per pair, B's score in [0, 1] (1: B better) under a source's own rule; NaN when it cannot be scored.

    A judgment's P(first) is its ``p_first``, else the one its verdict implies (first 1, second 0, tie ½).
    ``alpaca_eval``: the one recorded order, 1 − p_first (= preference − 1).
    ``fastchat``: FastChat ``show_result`` (pairwise): B wins only if both games say so, A likewise; a tie in
    game 1 or games that disagree make a tie (0.5); a game with 'error' drops the match.
    ``rlaif``: the position-debiased 1 − ½[p_first(ab) + 1 − p_first(ba)]; a pair without both orders is dropped.
    """
    import numpy as np
    import pandas as pd

    verdict = judgments["verdict"] if "verdict" in judgments.columns else pd.Series(None, index=judgments.index)
    implied = verdict.map(P_FIRST_OF_VERDICT).astype(float)
    p = pd.to_numeric(judgments["p_first"], errors="coerce").astype(float).fillna(implied)
    if "parse_status" in judgments.columns:
        p[(judgments["parse_status"] != "ok").to_numpy()] = np.nan
    wide = pd.DataFrame({"pair_id": judgments["pair_id"].astype(str).to_numpy(), "order": judgments["order"].to_numpy(),
                         "p": p.to_numpy()}).pivot_table(index="pair_id", columns="order", values="p",
                                                         aggfunc="first", dropna=False)
    wide = wide.reindex(columns=["ab", "ba"])
    ab, ba = wide["ab"].to_numpy(float), wide["ba"].to_numpy(float)
    if rule == "alpaca_eval":
        score = 1.0 - ab
    elif rule == "fastchat":
        a_both, b_both = (ab == 1.0) & (ba == 0.0), (ab == 0.0) & (ba == 1.0)  # both games name A / B
        score = np.where(np.isnan(ab) | np.isnan(ba), np.nan, np.where(a_both, 0.0, np.where(b_both, 1.0, 0.5)))
    else:
        score = 1.0 - position_debiased(ab, ba)
    return pd.Series(score, index=wide.index.astype(str), name="score_b")


def _orientations(pairs: pd.DataFrame, rule: str) -> pd.DataFrame:
    """(a, b) → (model, baseline): a generator met in every pair is the baseline; else the source's convention."""
    import pandas as pd

    counts = pairs.groupby(["a", "b"]).size().sort_values(ascending=False)
    generator_sets = [{a, b} for a, b in counts.index]
    everywhere = set.intersection(*generator_sets) if generator_sets else set()
    chosen: dict[frozenset[str], tuple[str, str]] = {}
    for a, b in counts.index:
        key = frozenset({a, b})
        if key not in chosen:
            base = b if rule == "fastchat" else a  # AlpacaEval: generator_1 is the baseline; FastChat: model_2
            if len(everywhere) == 1 and everywhere & key:
                base = next(iter(everywhere))
            chosen[key] = (a if base == b else b, base)
    rows = [(a, b, *chosen[frozenset({a, b})]) for a, b in counts.index]
    return pd.DataFrame.from_records(rows, columns=["a", "b", "model", "baseline"])


def _generator_frame(judgments: pd.DataFrame, generators: pd.DataFrame | dict[str, tuple[Any, Any]],
                     rule: str) -> pd.DataFrame:
    """pair_id, a, b (generator names), optional len_a/len_b, and B's score, for the judged pairs."""
    import pandas as pd

    if isinstance(generators, dict):
        generators = pd.DataFrame({"pair_id": list(generators), "generator_a": [g[0] for g in generators.values()],
                                   "generator_b": [g[1] for g in generators.values()]})
    present = generators["generator_a"].notna() & generators["generator_b"].notna()
    frame = pd.DataFrame({"pair_id": generators["pair_id"].astype(str), "a": generators["generator_a"].astype(str),
                          "b": generators["generator_b"].astype(str)})[present.to_numpy()]
    for column in ("len_a", "len_b"):
        if column in generators.columns:
            frame[column] = pd.to_numeric(generators[column], errors="coerce")[present.to_numpy()].to_numpy()
    scores = pair_scores_b(judgments, rule)
    where = pd.Index(scores.index.to_numpy(dtype=object)).get_indexer(frame["pair_id"].to_numpy(dtype=object))
    frame = frame[where >= 0].assign(score_b=scores.to_numpy()[where[where >= 0]])
    return frame.reset_index(drop=True)


def _avg_length(lengths: Any) -> dict[str, int]:
    values = [v for v in lengths if v is not None and v == v] if lengths is not None else []
    return {"avg_length": int(sum(values) / len(values))} if values else {}


def _per_generator_row(generator: str, preferences: Any) -> dict[str, Any]:
    row = {"generator": generator, **alpaca_eval_head2head(preferences)}
    row["n_losses"] = row.pop("n_wins_base")
    return row


def generator_win_rates(judgments: pd.DataFrame, generators: pd.DataFrame | dict[str, tuple[Any, Any]],
                        rule: str) -> dict[str, Any]:
    """Head-to-head win rates (AlpacaEval's get_winrate per model vs baseline) and per-generator rates (FastChat).

    ``generators``: a table with ``pair_id``, ``generator_a``, ``generator_b`` and optionally ``len_a``/``len_b``
    (characters, for AlpacaEval's ``avg_length`` column: int of the mean length of the model's outputs), or a
    dict pair id → (generator of A, generator of B).
    """
    import numpy as np
    import pandas as pd

    frame = _generator_frame(judgments, generators, rule)
    lengths = "len_a" in frame.columns
    if frame.empty:
        return {"status": "skipped", "reason": "the judged pairs do not name their generators"}
    frame = frame.merge(_orientations(frame, rule), on=["a", "b"], how="left")
    model_is_a = (frame["model"] == frame["a"]).to_numpy()
    frame["preference"] = 1.0 + np.where(model_is_a, 1.0 - frame["score_b"], frame["score_b"])
    if lengths:
        frame["model_len"] = np.where(model_is_a, frame["len_a"], frame["len_b"])
    head_rows = [{"generator": model, "baseline": base, **alpaca_eval_head2head(group["preference"].to_numpy()),
                  **_avg_length(group["model_len"].tolist() if lengths else None)}
                 for (model, base), group in frame.groupby(["model", "baseline"], sort=False)]
    sides = pd.concat([pd.DataFrame({"generator": frame["b"], "preference": 1.0 + frame["score_b"]}),
                       pd.DataFrame({"generator": frame["a"], "preference": 2.0 - frame["score_b"]})])
    gen_rows = [_per_generator_row(gen, group["preference"].to_numpy())
                for gen, group in sides.groupby("generator", sort=False)]
    by_rate = lambda row: -(row["win_rate"] if row["win_rate"] is not None else -1.0)  # noqa: E731
    return {"status": "ok", "rule": rule, "unit": "percent", "head_to_head": sorted(head_rows, key=by_rate),
            "per_generator": sorted(gen_rows, key=by_rate)}
