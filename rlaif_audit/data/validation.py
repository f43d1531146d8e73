"""Validation of the audit inputs, the one home of each rule: judgment values, a verdict that agrees with its
p_first, one evaluator per file, no pair judged twice in one order, every judged pair among the pairs, one A/B seed
per file and the A/B texts the judge saw equal to the pairs', unique pair ids, valid human labels.

Each check raises an :class:`InputError` naming the file (or table), the line (the file's line when ``lines`` gives
the line of each judgment row, else the 1-based row) and the field.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from rlaif_audit.errors import InputError
from rlaif_audit.records.preference import CHOICE_NAMES, VERDICTS

ORDERS = ("ab", "ba")
PREVIEW = 5


def preview(values: Sequence[Any]) -> str:
    """The first few values, quoted, with an ellipsis when there are more."""
    shown = ", ".join(repr(str(v)) for v in list(values)[:PREVIEW])
    return shown + (" …" if len(values) > PREVIEW else "")


def as_text(values: pd.Series) -> pd.Series:
    """A column as strings (pair ids given as integers become their text)."""
    return values if pd.api.types.is_string_dtype(values) and not values.hasnans else values.astype(str)


def _first_line(mask: np.ndarray, lines: Sequence[int] | None) -> int | None:
    """The line (``lines``) or 1-based row of the first row where ``mask`` holds."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return None
    return int(lines[hits[0]]) if lines is not None else int(hits[0]) + 1



def judgment_columns(judgments: pd.DataFrame) -> pd.DataFrame:
    """``pair_id`` (text), ``order``, ``p_first`` (float, NaN when missing), ``verdict``, ``parse_status``."""
    judgments = judgments.reset_index(drop=True)
    return pd.DataFrame({
        "pair_id": as_text(judgments["pair_id"]),
        "order": judgments["order"],
        "p_first": pd.to_numeric(judgments["p_first"], errors="coerce").astype(float),
        "verdict": judgments["verdict"] if "verdict" in judgments.columns else None,
        "parse_status": judgments["parse_status"] if "parse_status" in judgments.columns else "ok",
    })


def check_judgments(judgments: pd.DataFrame | None, where: str, lines: Sequence[int] | None = None,
                    evaluator_field: str = "evaluator_id") -> None:
    """Judgments fit to audit: the needed columns, valid values, one evaluator, no pair judged twice in one order."""
    if judgments is None or len(judgments) == 0:
        raise InputError(where, "holds no judgments (it is empty)")
    missing = [c for c in ("pair_id", "order", "p_first") if c not in judgments.columns]
    if missing:
        raise InputError(where, f"lacks the column(s) {', '.join(missing)}", field=missing[0])
    columns = judgment_columns(judgments)
    original = judgments["p_first"].reset_index(drop=True)
    _check_choices(columns, where, lines)
    _check_p_first(columns, original, where, lines)
    _check_verdict_agrees(columns, where, lines)
    _check_one_evaluator(judgments.reset_index(drop=True), where, lines, evaluator_field)
    _check_duplicates(columns, where, lines)


def _check_choices(columns: pd.DataFrame, where: str, lines: Sequence[int] | None) -> None:
    bad_order = ~columns["order"].isin(ORDERS).to_numpy()
    if bad_order.any():
        raise InputError(where, f"order must be 'ab' or 'ba': unknown value {columns['order'][bad_order].iloc[0]!r}",
                         line=_first_line(bad_order, lines), field="order")
    verdict = columns["verdict"]
    bad_verdict = (verdict.notna() & ~verdict.isin(VERDICTS)).to_numpy()
    if bad_verdict.any():
        raise InputError(where, f"verdict must be first, second, tie or null: unknown value "
                         f"{verdict[bad_verdict].iloc[0]!r}", line=_first_line(bad_verdict, lines), field="verdict")


def _judgment_named(columns: pd.DataFrame, mask: np.ndarray) -> str:
    row = int(np.flatnonzero(mask)[0])
    return (f"pair {columns['pair_id'].iloc[row]!r}, order {columns['order'].iloc[row]!r}; "
            f"{int(mask.sum())} such judgment(s)")


def _check_p_first(columns: pd.DataFrame, original: pd.Series, where: str, lines: Sequence[int] | None) -> None:
    p_first = columns["p_first"].to_numpy()
    unreadable = np.isnan(p_first) & original.notna().to_numpy()
    out_of_range = (p_first < 0) | (p_first > 1) | np.isinf(p_first) | unreadable
    if out_of_range.any():
        given = original.iloc[int(np.flatnonzero(out_of_range)[0])]
        given = given.item() if isinstance(given, np.generic) else given  # 1.7, not np.float64(1.7)
        raise InputError(where, f"p_first must be in [0, 1], got {given!r} ({_judgment_named(columns, out_of_range)})",
                         line=_first_line(out_of_range, lines), field="p_first")
    empty = np.isnan(p_first) & columns["verdict"].isna().to_numpy() & (columns["parse_status"] == "ok").to_numpy()
    if empty.any():
        raise InputError(where, f"p_first is NaN/null while parse_status is 'ok' and there is no verdict "
                         f"({_judgment_named(columns, empty)})", line=_first_line(empty, lines), field="p_first")


def _check_verdict_agrees(columns: pd.DataFrame, where: str, lines: Sequence[int] | None) -> None:
    """A verdict beside a probability agrees with it: 'first' needs p_first > ½, 'second' p_first < ½, and 'tie'
    p_first strictly inside (0, 1) (a tie band may call any such probability a tie)."""
    p_first, verdict = columns["p_first"].to_numpy(), columns["verdict"]
    with np.errstate(invalid="ignore"):
        contradicts = (((verdict == "first").to_numpy() & ~(p_first > 0.5))
                       | ((verdict == "second").to_numpy() & ~(p_first < 0.5))
                       | ((verdict == "tie").to_numpy() & ~((p_first > 0) & (p_first < 1)))) & ~np.isnan(p_first)
    if contradicts.any():
        row = int(np.flatnonzero(contradicts)[0])
        raise InputError(where, f"verdict {verdict.iloc[row]!r} contradicts p_first {float(p_first[row])!r} "
                         f"({_judgment_named(columns, contradicts)}); 'first' needs p_first > 0.5, 'second' "
                         "p_first < 0.5, 'tie' p_first strictly between 0 and 1",
                         line=_first_line(contradicts, lines), field="verdict")


def _check_one_evaluator(judgments: pd.DataFrame, where: str, lines: Sequence[int] | None, field: str) -> None:
    """One evaluator identity per judgments file; mixing two is an error naming both (and their names)."""
    if "evaluator_id" not in judgments.columns:
        return
    identities = judgments["evaluator_id"].astype(str).where(judgments["evaluator_id"].notna(), "")
    ids = [i for i in identities.unique() if i != ""]
    if len(ids) <= 1:
        return
    names = judgments["evaluator"].dropna().astype(str).unique() if "evaluator" in judgments.columns else []
    named = f" (judgments of {len(names)} different evaluators: {preview(names)})" if len(names) > 1 else ""
    raise InputError(where, f"mixes {len(ids)} evaluator identities: {preview(ids)}{named}; audit one evaluator "
                     "per file (split the file, or use --compare for a second one)",
                     line=_first_line((identities == ids[1]).to_numpy(), lines), field=field)


def _check_duplicates(columns: pd.DataFrame, where: str, lines: Sequence[int] | None) -> None:
    """No pair judged twice in the same order."""
    key = pd.factorize(columns["pair_id"])[0].astype(np.int64) * 2 + (columns["order"] == "ba").to_numpy()
    repeated = pd.Series(key).duplicated().to_numpy()  # integer keys: 1.6× faster than on the strings (6·10⁵ rows)
    if not repeated.any():
        return
    row = int(np.flatnonzero(repeated)[0])
    pair_id, order = columns["pair_id"].iloc[row], columns["order"].iloc[row]
    same = ((columns["pair_id"] == pair_id) & (columns["order"] == order)).to_numpy()
    raise InputError(where, f"duplicate judgment: pair {pair_id!r} is judged twice in order {order!r} (first on line "
                     f"{_first_line(same, lines)}; {int(repeated.sum())} duplicate judgment(s))",
                     line=_first_line(repeated, lines), field="pair_id")


def check_known_pairs(judgments: pd.DataFrame, pair_ids: pd.Series, where: str,
                      lines: Sequence[int] | None = None, data: str | None = None) -> None:
    """Every judged pair id is among the pairs; the error names the unknown ids, their count and the first line."""
    import pyarrow as pa
    import pyarrow.compute as pc

    judged = as_text(judgments["pair_id"].reset_index(drop=True))
    known = pc.is_in(pa.array(judged, type=pa.large_string()), value_set=pa.array(pair_ids, pa.large_string()))
    unknown = ~known.to_numpy(zero_copy_only=False).astype(bool)
    if unknown.any():
        ids = pd.unique(judged[unknown])
        hint = (f" — not in {data}: is --data the data these judgments were labeled from (same --seed, --split)?"
                if data else "")
        raise InputError(where, f"{len(ids)} judged pair id(s) are not among the pairs: {preview(ids)}{hint}",
                         line=_first_line(unknown, lines), field="pair_id")


def recorded_ab_seed(judgments: pd.DataFrame, where: str, lines: Sequence[int] | None = None) -> int | None:
    """The A/B seed the judgments were labeled with (None when none is recorded); two seeds in one file are an
    error naming the first line of the second."""
    if "ab_seed" not in judgments.columns:
        return None
    seeds = pd.to_numeric(judgments["ab_seed"].reset_index(drop=True), errors="coerce")
    known = seeds.dropna().unique()
    if len(known) > 1:
        raise InputError(where, f"mixes judgments of {len(known)} A/B seeds ({', '.join(str(int(s)) for s in known)})"
                         "; label each seed into its own file", line=_first_line((seeds == known[1]).to_numpy(), lines),
                         field="ab_seed")
    return int(known[0]) if len(known) else None


def has_ab_hashes(judgments: pd.DataFrame) -> bool:
    """Whether the judgments record the A/B texts they judged (files written before provenance do not)."""
    return "ab_hash" in judgments.columns and bool(judgments["ab_hash"].notna().any())


def check_ab_hashes(judgments: pd.DataFrame, expected: Mapping[str, str], where: str,
                    lines: Sequence[int] | None = None, *, recorded_seed: int | None = None,
                    given_seed: int | None = None, data: str | None = None) -> None:
    """Each judgment's ``ab_hash`` (the A and B texts its judge saw) equals the one of the pair given (``expected``:
    pair id → :func:`rlaif_audit.records.provenance.ab_hash`); the error names line, pair, both hashes and seeds."""
    if "ab_hash" not in judgments.columns:
        return
    pair_ids = as_text(judgments["pair_id"].reset_index(drop=True))
    recorded = judgments["ab_hash"].reset_index(drop=True)
    wanted = pair_ids.map(expected)
    differs = (recorded.notna() & wanted.notna() & (recorded != wanted)).to_numpy()
    if not differs.any():
        return
    row = int(np.flatnonzero(differs)[0])
    n_pairs, n_judged = pair_ids[differs].nunique(), pair_ids[recorded.notna()].nunique()
    seeds = f"A/B seed {recorded_seed}" if recorded_seed is not None else "no A/B seed recorded"
    given = f" (A/B seed {given_seed})" if given_seed is not None else ""
    raise InputError(where, f"pair {pair_ids[row]!r} was judged with A/B hash {recorded[row]} ({seeds}), but "
                     f"{data or 'the pairs given'} gives it A/B hash {wanted[row]}{given}; "
                     f"{n_pairs} of {n_judged} judged pairs differ. Is the data the one these judgments were labeled "
                     "from, with the same texts and A/B seed (--ab-seed)?", line=_first_line(differs, lines),
                     field="ab_hash")


def check_pair_table(pairs: pd.DataFrame) -> pd.Series:
    """A pairs table has an id column (``pair_id`` or ``id``), ``a`` and ``b``; returns its pair ids as text."""
    id_column = "pair_id" if "pair_id" in pairs.columns else "id"
    missing = [c for c in (id_column, "a", "b") if c not in pairs.columns]
    if missing:
        raise InputError("pairs", f"the pairs table lacks the column(s) {', '.join(missing)}", field=missing[0])
    return as_text(pairs[id_column].reset_index(drop=True))


def check_pair_ids(pair_ids: pd.Series) -> None:
    """Pair ids are unique."""
    duplicated = pair_ids.duplicated().to_numpy()
    if duplicated.any():
        raise InputError("pairs", f"pair id {pair_ids[duplicated].iloc[0]!r} occurs twice "
                         f"({int(duplicated.sum())} duplicate(s))", field="id")


def check_labels(pair_ids: pd.Series, preferred: pd.Series) -> None:
    """Each human label prefers a, b or tie."""
    bad = ~preferred.isin(CHOICE_NAMES).to_numpy()
    if bad.any():
        raise InputError("labels", f"preferred must be a, b or tie, got {preferred[bad].iloc[0]!r} "
                         f"(pair {pair_ids[bad].iloc[0]!r})", line=_first_line(bad, None), field="preferred")
