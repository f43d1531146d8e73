"""The ``fastchat`` importer: FastChat llm_judge pairwise judgments and MT-Bench human judgments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.data.importer import Imported, Importer, failed_warning, judgment_frame, text_field, unmatched_warning
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.errors import InputError
from rlaif_audit.records.fileio import read_records
from rlaif_audit.records.types import HumanLabel, PreferencePair

FIELDS = frozenset({"g1_winner", "g2_winner"})
MODEL_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
"""A model name that may name its answer file ``model_answer/<name>.jsonl``; any other is never used as a path."""
HUMAN_FIELDS = frozenset({"model_a", "model_b", "winner"})

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


def _question_id(path: str, line: int, record: dict[str, Any]) -> str | int:
    """A record's question id: a string or an integer (FastChat's), else an error naming the field."""
    qid = record.get("question_id", record.get("id"))
    if qid is None:
        raise InputError(path, "is missing", line=line, field="question_id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise InputError(path, f"must be a string or an integer, got {qid!r}", line=line, field="question_id")
    return qid


def _fastchat_key(path: str, line: int, record: dict[str, Any]) -> tuple[Any, int, str, str]:
    qid = _question_id(path, line, record)
    turn = record.get("turn", 1)
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 1:
        raise InputError(path, f"must be a positive integer, got {turn!r}", line=line, field="turn")
    m1, m2 = text_field(path, line, record, "model_1") or "", text_field(path, line, record, "model_2") or ""
    return qid, turn, m1, m2


def _fastchat_winner(path: str, line: int, record: dict[str, Any], game: str) -> float | None:
    name = "g1_winner" if game == "ab" else "g2_winner"
    winner = record.get(name)
    if winner == "error":
        return None
    if not isinstance(winner, str) or winner not in _FASTCHAT_P_FIRST[game]:
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
        self.questions = self._load(folder / "question.jsonl") if folder else {}
        self.answers: dict[str, dict[Any, Any]] = {}
        self.unsafe_models: set[str] = set()

    def _load(self, path: Path) -> dict[Any, dict[str, Any]]:
        """The records of a bench file by question id; a file outside the bench folder is never read."""
        if self.folder is None or not path.is_file() or not _inside(self.folder, path):
            return {}
        return {_question_id(str(path), line, record): record for line, record in read_records(path)
                if "question_id" in record}

    def answer_turns(self, model: str, question_id: Any) -> list[str] | None:
        """The answer turns of ``model`` to a question (None without them); a model name that is not a plain file
        name is never used as a path (its answers are not read)."""
        if model not in self.answers:
            safe = MODEL_FILE_NAME.fullmatch(model) is not None
            if not safe:
                self.unsafe_models.add(model)
            path = self.folder / "model_answer" / f"{model}.jsonl" if self.folder and safe else None
            self.answers[model] = self._load(path) if path else {}
        record = self.answers[model].get(question_id)
        try:
            turns = record["choices"][0]["turns"] if record else None
        except (KeyError, IndexError, TypeError):
            return None
        return [str(turn) for turn in turns] if isinstance(turns, list) else None

    def question_turns(self, question_id: Any) -> list[str] | None:
        """The turns of a question (None without them)."""
        record = self.questions.get(question_id)
        turns = record.get("turns") if record else None
        return [str(t) for t in turns] if isinstance(turns, list) else None


def _inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (links resolved) lies inside ``folder``."""
    return path.resolve().is_relative_to(folder.resolve())


def fastchat_folder(judgments_path: Path, data_dir: Path | str | None) -> Path | None:
    """The bench folder holding question.jsonl: ``data_dir`` or, in FastChat's layout, two levels up."""
    if data_dir is not None:
        folder = Path(data_dir)
        if not (folder / "question.jsonl").is_file():
            raise InputError(str(folder), "is not a FastChat bench folder (no question.jsonl in it)")
        return folder
    guess = judgments_path.resolve().parent.parent
    return guess if (guess / "question.jsonl").is_file() else None


def _fastchat_pair(key: tuple[Any, int, str, str], texts: FastChatTexts, prompt: str,
                   occurrence: int = 1) -> PreferencePair:
    """The pair of a match; its ``occurrence``-th line in the file (from 2 on) gets the id suffix ``-r<k>``."""
    qid, turn, m1, m2 = key
    pair_id = fastchat_pair_id(*key) + (f"-r{occurrence}" if occurrence > 1 else "")
    questions = texts.question_turns(qid)
    ans_1, ans_2 = texts.answer_turns(m1, qid), texts.answer_turns(m2, qid)
    complete = bool(questions and ans_1 and ans_2 and len(questions) >= turn and len(ans_1) >= turn
                    and len(ans_2) >= turn)
    meta: dict[str, Any] = {"source_format": "fastchat", "generator_a": m1, "generator_b": m2, "question_id": qid,
                            "turn": turn, "judge_prompt": prompt, "texts_missing": not complete}
    if occurrence > 1:
        meta["repeat"] = occurrence
    if not complete:
        return PreferencePair(pair_id, [], "", "", meta)
    category = texts.questions.get(qid, {}).get("category")
    if isinstance(category, str) and category:
        meta["category"] = category
    if turn > 1:  # each model's own earlier answers: the judge saw two different conversations
        meta["history_a"], meta["history_b"] = ans_1[: turn - 1], ans_2[: turn - 1]
        meta["earlier_questions"] = questions[: turn - 1]
    context = [{"role": "user", "content": questions[turn - 1]}]
    return PreferencePair(pair_id, context, ans_1[turn - 1], ans_2[turn - 1], meta)


def read_fastchat(path: Path | str, data_dir: Path | str | None = None) -> Imported:
    """FastChat llm_judge pairwise judgments → pairs and both orders' judgments (verdicts, no probabilities).

    ``g1_winner`` is the game showing model_1 first (order ``ab``), ``g2_winner`` the one showing model_2 first
    (order ``ba``); FastChat has already mapped both to ``model_1``/``model_2``/``tie``/``error``. Texts come
    from the bench folder (``data_dir`` or FastChat's layout around the file); without it they stay empty.
    A match repeated in the file counts once per line, as FastChat's show_result does (it scores every row):
    the repeat on its k-th line becomes pair ``<id>-r<k>``; human labels attach to the first.
    """
    path_str = str(path)
    texts = FastChatTexts(fastchat_folder(Path(path), data_dir))
    first_line: dict[tuple[Any, int, str, str], int] = {}
    seen: dict[tuple[Any, int, str, str], int] = {}
    warnings: list[str] = []
    pairs, rows, lines = [], [], []
    for line, record in read_records(path):
        if "g1_winner" not in record or "g2_winner" not in record:
            raise InputError(path_str, "is missing (not a FastChat pairwise judgment)", line=line, field="g1_winner")
        key = _fastchat_key(path_str, line, record)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            warnings.append(f"line {line} repeats the match on line {first_line[key]}; both are counted, as "
                            "FastChat's show_result does")
        first_line.setdefault(key, line)
        pair = _fastchat_pair(key, texts, _fastchat_judge(path_str, line, record)[1], seen[key])
        pairs.append(pair)
        rows.extend(_fastchat_rows(path_str, line, record, pair.id))
        lines += [line, line]
    judgments = judgment_frame(rows, "fastchat")
    warnings += _fastchat_text_warning(pairs, texts) + failed_warning(judgments, "FastChat games are 'error'")
    return Imported(pairs, judgments, [], warnings, lines, "judge")


def _fastchat_text_warning(pairs: list[PreferencePair], texts: FastChatTexts) -> list[str]:
    missing = sum(1 for pair in pairs if pair.metadata["texts_missing"])
    if not missing:
        return []
    where = f"in {texts.folder}" if texts.folder else "(pass --data with the FastChat bench folder)"
    unsafe = sorted(texts.unsafe_models)
    names = (f" ({len(unsafe)} model name(s) are not plain file names, so their answers were not read: "
             f"{', '.join(repr(name) for name in unsafe[:3])})" if unsafe else "")
    return [f"{missing} of {len(pairs)} pairs have no question/answer texts {where}{names}; their length and list "
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
        if meta.get("question_id") is not None and "repeat" not in meta:  # labels go to a match's first line
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
        qid = _question_id(str(path), line, vote)
        model_a, model_b = (text_field(str(path), line, vote, name) for name in ("model_a", "model_b"))
        turn = vote.get("turn", 1)
        turn = int(turn) if isinstance(turn, str) and turn.strip().isdigit() else turn
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
            raise InputError(str(path), f"must be a positive integer, got {turn!r}", line=line, field="turn")
        pair = index.get((qid, turn, frozenset({model_a, model_b})))
        if pair is None:
            unmatched += 1
            continue
        flipped = vote["model_a"] != pair.metadata.get("generator_a")
        preferred = _fastchat_winner_label(str(path), line, vote["winner"], flipped)
        annotator = _annotator(str(path), line, vote.get("judge", "human"))
        labels.append(HumanLabel(pair.id, preferred, annotator))  # type: ignore[arg-type]
    return labels, unmatched_warning(str(path), unmatched)




def _annotator(path: str, line: int, judge: Any) -> str:
    if isinstance(judge, bool) or not isinstance(judge, (str, int)) or not str(judge).strip():
        raise InputError(path, f"must be a non-empty string, got {judge!r}", line=line, field="judge")
    return str(judge)


class FastChatImporter(Importer):
    """FastChat llm_judge pairwise judgments (both games as orders) and MT-Bench human judgments."""

    name = "fastchat"
    description = "FastChat pairwise judgments (question_id, model_1, model_2, g1_winner, g2_winner)"
    labels_format = "fastchat_human"
    labels_description = "FastChat human judgments (question_id, model_a, model_b, winner, judge)"

    def detect(self, first_record: dict[str, Any]) -> bool:
        """A FastChat pairwise judgment has g1_winner and g2_winner."""
        return FIELDS <= set(first_record)

    def read(self, path: str, data: str | None) -> Imported:
        """The matches' pairs and both games' verdicts; ``data`` is the bench folder with the texts."""
        return read_fastchat(path, data)

    def detect_labels(self, first_record: dict[str, Any]) -> bool:
        """A FastChat human judgment has model_a, model_b and winner."""
        return HUMAN_FIELDS <= set(first_record)

    def read_labels(self, path: str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
        """Human votes matched to the judged matches by question, turn and the two models."""
        return fastchat_human_labels(path, pairs)


@hookimpl
def register_importers(register: Any) -> None:
    """Register the FastChat importer."""
    register(FastChatImporter)
