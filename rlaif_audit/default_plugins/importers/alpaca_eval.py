"""The ``alpaca_eval`` importer: AlpacaEval ``annotations.json`` judgments and AlpacaEval human annotations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.data.importer import Imported, Importer, failed_warning, judgment_frame, text_field, unmatched_warning
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.errors import InputError
from rlaif_audit.records.provenance import stable_hash
from rlaif_audit.records.fileio import read_records
from rlaif_audit.records.types import HumanLabel, PreferencePair

FIELDS = frozenset({"output_1", "output_2", "preference"})


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


def _alpaca_instruction(path: str, line: int, record: dict[str, Any]) -> str:
    instruction = text_field(path, line, record, "instruction") or ""
    extra = record.get("input")
    return f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction


def alpaca_pair_id(instruction: str, output_1: str, output_2: str, generators: tuple[Any, Any]) -> str:
    """A stable pair id for an AlpacaEval annotation (same texts and generators → same id)."""
    return "ae-" + stable_hash([instruction, output_1, output_2, list(generators)], length=16)


def _alpaca_pair(path: str, line: int, record: dict[str, Any]) -> PreferencePair:
    instruction = _alpaca_instruction(path, line, record)
    out_1, out_2 = text_field(path, line, record, "output_1") or "", text_field(path, line, record, "output_2") or ""
    gens = (text_field(path, line, record, "generator_1", False), text_field(path, line, record, "generator_2", False))
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
        "latency_s": float(latency) if isinstance(latency, (int, float)) and not isinstance(latency, bool)
        and -1e300 < latency < 1e300 else 0.0,
        "evaluator": str(record.get("annotator") or "alpaca_eval"),
    }


def _cross_index(record: dict[str, Any]) -> Any:
    """The annotation index that tells a judge's repeated annotations of one pair apart (None without one)."""
    index = record.get("index", record.get("annotator_index"))
    return index if isinstance(index, (int, str)) and not isinstance(index, bool) else None


def read_alpaca_eval(path: Path | str) -> Imported:
    """AlpacaEval ``annotations.json`` → one pair and one (order ``ab``) judgment per annotation.

    ``preference``: 1 (output_1 better), 2 (output_2 better), in between for the weighted (AlpacaEval 2)
    annotators, 1.5 or 0 (older versions) for a draw, null/NaN when unparsed. AlpacaEval shows the outputs in
    a random order and stores the preference un-swapped, so the order shown is not recorded: the judgment is
    order ``ab`` with ``p_first = 2 − preference`` = P(output_1 better). A file of only 1/1.5/2/0 comes from a
    ranking annotator: its judgments keep the verdict and leave ``p_first`` empty (no probabilities).
    The judge's repeated annotations of one pair (AlpacaEval cross-annotations, told apart by ``index`` or
    ``annotator_index``) keep the first as the judgment and all preferences, in file order, in the pair's
    metadata ``judge_preferences`` (for AlpacaEval's bias and variance).
    """
    path_str = str(path)
    pairs: dict[str, PreferencePair] = {}
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    indices: dict[str, set[Any]] = {}
    for line, record in read_records(path):
        pair = _alpaca_pair(path_str, line, record)
        index = _cross_index(record)
        if pair.id in pairs:
            if index is None or index in indices[pair.id]:
                raise InputError(path_str, f"the same annotation (instruction, outputs, generators) appears twice "
                                 f"(first on line {first_line[pair.id]}); the judge's repeated annotations of a pair "
                                 "need distinct 'index' values", line=line, field="instruction")
            indices[pair.id].add(index)
            pairs[pair.id].metadata["judge_preferences"].append(_alpaca_preference(path_str, line, record))
            continue
        pair.metadata["judge_preferences"] = [_alpaca_preference(path_str, line, record)]
        pairs[pair.id], first_line[pair.id], indices[pair.id] = pair, line, {index}
        rows.append(_alpaca_judgment(path_str, line, record, pair.id))
    if all(len(pair.metadata["judge_preferences"]) == 1 for pair in pairs.values()):
        for pair in pairs.values():
            del pair.metadata["judge_preferences"]
    judgments = judgment_frame(rows, "alpaca_eval")
    if judgments["p_first"].dropna().isin([0.0, 0.5, 1.0]).all():  # a ranking annotator: verdicts, no probabilities
        judgments["p_first"] = None
    warnings = failed_warning(judgments, "annotations have a null/NaN preference (unparsed); AlpacaEval drops them")
    return Imported(list(pairs.values()), judgments, [], warnings, list(first_line.values()), "annotator")


def alpaca_human_labels(path: Path | str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
    """AlpacaEval human annotations matched to pairs by (instruction, output_1, output_2) text, either way round."""
    by_text: dict[tuple[str, str, str], PreferencePair] = {}
    for pair in pairs:
        instruction = pair.context[-1]["content"] if pair.context else ""
        by_text[(instruction, pair.a, pair.b)] = pair
    labels, unmatched = [], 0
    for line, record in read_records(path):
        instruction = _alpaca_instruction(str(path), line, record)
        out_1, out_2 = (text_field(str(path), line, record, name) or "" for name in ("output_1", "output_2"))
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
    return labels, unmatched_warning(str(path), unmatched)


class AlpacaEvalImporter(Importer):
    """AlpacaEval annotations: one un-swapped judgment per pair; the human annotations have the same fields."""

    name = "alpaca_eval"
    description = "AlpacaEval annotations (instruction, output_1, output_2, preference)"
    labels_format = "alpaca_eval"
    labels_description = "AlpacaEval human annotations (instruction, output_1, output_2, preference)"
    one_order_note = ("AlpacaEval annotations keep one un-swapped verdict per pair (the order shown is not recorded): "
                      "position auditors are skipped and the judge's preference is not position-debiased")

    def detect(self, first_record: dict[str, Any]) -> bool:
        """An AlpacaEval annotation has output_1, output_2 and preference."""
        return FIELDS <= set(first_record)

    def read(self, path: str, data: str | None) -> Imported:
        """The annotations' pairs and judgments; AlpacaEval files hold their own texts, so ``--data`` is an error."""
        if data is not None:
            raise InputError(str(data), "--data is not used with AlpacaEval annotations: they hold their "
                             "own texts; pass human labels with --human")
        return read_alpaca_eval(path)

    def detect_labels(self, first_record: dict[str, Any]) -> bool:
        """AlpacaEval human annotations have the annotations' fields."""
        return self.detect(first_record)

    def read_labels(self, path: str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
        """Human annotations matched to the judged pairs by their texts."""
        return alpaca_human_labels(path, pairs)


@hookimpl
def register_importers(register: Any) -> None:
    """Register the AlpacaEval importer."""
    register(AlpacaEvalImporter)
