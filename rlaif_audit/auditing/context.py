"""Build the AuditContext (one vectorised row per pair) from validated audit inputs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from rlaif_audit.auditing.auditor import AuditContext, AuditResult
from rlaif_audit.data.validation import as_text, judgment_columns
from rlaif_audit.records.preference import (CHOICE_NAMES, VERDICTS, choice_codes, choice_score, human_share, pair_p_a,
                                            single_order_p_a)

if TYPE_CHECKING:
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.records.types import HumanLabel, PreferencePair

META_PREFIX = "meta_"
LIST_PATTERN = re.compile(r"(?m)^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S")
"""A Markdown-style list item: a line opening with ``-``, ``*``, ``+``, ``•`` or ``1.``/``1)`` and text."""
LENGTH_EDGES = (-np.inf, -500, -100, -30, 30, 100, 500, np.inf)
"""Bucket edges of ``len_a - len_b`` in characters; |Δ| ≤ 30 is AlpacaEval's "same length"."""

DEFAULT_OPTIONS: dict[str, Any] = {
    "review_budget": 50,
    "review_margin": 0.1,
    "tie_band": 0.0,
    "batch_calibration": False,
    "n_bins": 10,
    "cv_folds": 5,
    "ci_method": "percentile",
    "breakdown_max_levels": 20,
    "top_disagreements": 20,
    "length_threshold": 30,
    "protocol": "rlaif-audit",
}

STATUSES = ["missing", "ok", "failed"]


def build_context(
    inputs: AuditInputs | pd.DataFrame,
    pairs: Sequence[PreferencePair] | pd.DataFrame | None = None,
    labels: Sequence[HumanLabel] | pd.DataFrame | None = None,
    *,
    seed: int = 0,
    n_bootstrap: int = 2000,
    options: dict[str, Any] | None = None,
    compare: AuditContext | pd.DataFrame | None = None,
) -> AuditContext:
    """Join validated audit inputs into one row per judged pair (judgments of both orders, human shares, lengths).

    ``inputs`` is an :class:`AuditInputs`, or (the Python API) a judgments DataFrame given with ``pairs`` and
    ``labels``, validated into one by :meth:`AuditInputs.from_frames`. ``pairs`` may be PreferencePair objects or
    a DataFrame with ``pair_id`` (or ``id``), ``a``, ``b``, optional ``context``/``metadata`` and further columns
    taken as metadata. Metadata keys become ``meta_<key>`` columns, except ``generator_a``/``generator_b``.
    ``labels`` may be HumanLabel objects or a DataFrame (``pair_id``, ``preferred``, ``annotator``); labels of
    pairs that were not judged are ignored. ``compare`` (a second evaluator's context, or its judgments of the
    same pairs) is kept as ``ctx.compare``.
    """
    from rlaif_audit.data.inputs import AuditInputs

    if not isinstance(inputs, AuditInputs):
        inputs = AuditInputs.from_frames(inputs, [] if pairs is None else pairs, [] if labels is None else labels)
    checked = judgment_columns(inputs.judgments)
    pair_frame = pairs_frame(inputs.pairs)
    positions = positions_of(checked["pair_id"], pair_frame["pair_id"])
    label_frame = labels_frame(inputs.labels)
    frame = per_pair_frame(pair_frame, checked, positions, label_frame)
    merged = {**DEFAULT_OPTIONS, **(options or {})}
    if isinstance(compare, pd.DataFrame):
        compare = build_context(compare, inputs.pairs, inputs.labels, seed=seed, n_bootstrap=n_bootstrap,
                                options=options)
    return AuditContext(pairs=frame, judgments=inputs.judgments, labels=label_frame, seed=seed,
                        n_bootstrap=n_bootstrap, options=merged, compare=compare)


def positions_of(keys: pd.Series, ids: pd.Series) -> np.ndarray:
    """Index of each key in ``ids`` (-1 when absent); pyarrow's hash lookup, ~3× pandas' on 10⁶ strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(pa.array(keys, type=pa.large_string()), value_set=pa.array(ids, type=pa.large_string()))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


# ------------------------------------------------------------------------------------------------ pair frames


def pairs_frame(pairs: Sequence[PreferencePair] | pd.DataFrame) -> pd.DataFrame:
    """``pair_id``, ``text_a``, ``text_b``, ``context``, ``generator_a``/``_b`` and ``meta_*`` columns."""
    if isinstance(pairs, pd.DataFrame):
        frame = _frame_from_dataframe(pairs.reset_index(drop=True))
    else:
        frame = _frame_from_objects(pairs)
    return frame


def _frame_from_objects(pairs: Sequence[PreferencePair]) -> pd.DataFrame:
    metadata = pd.DataFrame.from_records([pair.metadata or {} for pair in pairs], index=range(len(pairs)))
    frame = pd.DataFrame({
        "pair_id": [str(pair.id) for pair in pairs],
        "text_a": [pair.a for pair in pairs],
        "text_b": [pair.b for pair in pairs],
        "context": pd.Series([pair.context for pair in pairs], dtype=object),
    })
    return _with_metadata(frame, metadata)


def _frame_from_dataframe(pairs: pd.DataFrame) -> pd.DataFrame:
    id_column = "pair_id" if "pair_id" in pairs.columns else "id"
    frame = pd.DataFrame({
        "pair_id": as_text(pairs[id_column]),
        "text_a": pairs["a"],
        "text_b": pairs["b"],
        "context": pairs["context"] if "context" in pairs.columns else pd.Series(None, index=pairs.index, dtype=object),
    })
    extra = pairs.drop(columns=[c for c in (id_column, "a", "b", "context", "metadata") if c in pairs.columns])
    if "metadata" in pairs.columns:
        expanded = pd.DataFrame.from_records([m or {} for m in pairs["metadata"]], index=pairs.index)
        extra = pd.concat([extra, expanded.drop(columns=[c for c in expanded if c in extra])], axis=1)
    return _with_metadata(frame, extra)


def _with_metadata(frame: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    columns = {side: metadata[side] if side in metadata.columns else pd.Series(None, index=frame.index, dtype=object)
               for side in ("generator_a", "generator_b")}
    columns.update({META_PREFIX + str(key): metadata[key] for key in metadata.columns
                    if key not in ("generator_a", "generator_b")})
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def labels_frame(labels: Sequence[HumanLabel] | pd.DataFrame) -> pd.DataFrame:
    """One row per human label (``pair_id``, ``preferred``, ``annotator``)."""
    if isinstance(labels, pd.DataFrame):
        frame = labels.reindex(columns=["pair_id", "preferred", "annotator"]).reset_index(drop=True)
        frame["annotator"] = frame["annotator"].fillna("source")
    else:
        frame = pd.DataFrame({"pair_id": [str(label.pair_id) for label in labels],
                              "preferred": [label.preferred for label in labels],
                              "annotator": [label.annotator for label in labels]})
    frame["pair_id"] = as_text(frame["pair_id"])
    return frame


def _order_arrays(checked: pd.DataFrame, positions: np.ndarray, n_pairs: int, order: str) -> dict[str, np.ndarray]:
    """p_first, verdict code and status of one order for every pair (NaN / -1 / 'missing' when absent)."""
    rows = (checked["order"] == order).to_numpy()
    where = positions[rows]
    p_given = checked["p_first"].to_numpy()[rows]
    verdict = pd.Categorical(checked["verdict"][rows], categories=VERDICTS).codes
    failed = (checked["parse_status"][rows] != "ok").to_numpy() | (np.isnan(p_given) & (verdict < 0))
    verdict = np.where(verdict >= 0, verdict, choice_codes(p_given))
    p_first = np.where(np.isnan(p_given), choice_score(verdict), p_given)
    out = {"p": np.full(n_pairs, np.nan), "verdict": np.full(n_pairs, -1, dtype=np.int8),
           "status": np.zeros(n_pairs, dtype=np.int8), "prob": np.zeros(n_pairs, dtype=bool)}
    out["status"][where] = np.where(failed, 2, 1)
    out["p"][where] = np.where(failed, np.nan, p_first)
    out["verdict"][where] = np.where(failed, -1, verdict)
    out["prob"][where] = ~failed & ~np.isnan(p_given)
    return out


def per_pair_frame(pair_frame: pd.DataFrame, checked: pd.DataFrame, positions: np.ndarray,
                   label_frame: pd.DataFrame) -> pd.DataFrame:
    """The ``ctx.pairs`` table: judged pairs with both orders side by side, human shares, lengths."""
    n_pairs = len(pair_frame)
    columns: dict[str, Any] = {"pair_id": pair_frame["pair_id"]}
    for order in ("ab", "ba"):
        arrays = _order_arrays(checked, positions, n_pairs, order)
        columns[f"p_first_{order}"] = arrays["p"]
        columns[f"verdict_{order}"] = pd.Categorical.from_codes(arrays["verdict"], categories=list(VERDICTS))
        columns[f"status_{order}"] = pd.Categorical.from_codes(arrays["status"], categories=STATUSES)
        columns[f"prob_{order}"] = arrays["prob"]
    columns["p_a"] = pair_p_a(columns["p_first_ab"], columns["p_first_ba"], columns["prob_ab"], columns["prob_ba"])
    columns.update(human_columns(pair_frame["pair_id"], label_frame))
    columns["len_a"] = pair_frame["text_a"].str.len().fillna(0).to_numpy(dtype=np.int64)
    columns["len_b"] = pair_frame["text_b"].str.len().fillna(0).to_numpy(dtype=np.int64)
    frame = pd.concat([pd.DataFrame(columns, index=pair_frame.index), pair_frame.drop(columns="pair_id")], axis=1)
    judged = np.zeros(n_pairs, dtype=bool)
    judged[positions] = True
    kept = frame if judged.all() else frame[judged].reset_index(drop=True)
    kept.attrs["n_unjudged_pairs"] = int(n_pairs - judged.sum())
    return kept


def human_columns(pair_ids: pd.Series, label_frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per pair: counts of a/b/tie labels, annotator count, and ``human_p_a`` (ties half; NaN unlabeled)."""
    n_pairs = len(pair_ids)
    where = positions_of(label_frame["pair_id"], pair_ids)
    known = where >= 0
    code = pd.Categorical(label_frame["preferred"], categories=CHOICE_NAMES).codes[known]
    counts = np.bincount(where[known] * 3 + code, minlength=3 * n_pairs).reshape(n_pairs, 3).astype(float)
    return {"human_p_a": human_share(counts[:, 0], counts[:, 1], counts[:, 2]),
            "n_annotators": counts.sum(axis=1).astype(int), "human_n_a": counts[:, 0].astype(int),
            "human_n_b": counts[:, 1].astype(int), "human_n_tie": counts[:, 2].astype(int)}


# --------------------------------------------------------------------------------------- helpers for auditors


def judge_preference(ctx: AuditContext) -> tuple[np.ndarray, str | None]:
    """P(A ≻ B) per pair: order-averaged where both orders exist; single-order only when no pair has both.

    Returns the array (NaN where unusable) and a note when single-order values were used.
    """
    p_a = ctx.pairs["p_a"].to_numpy(dtype=float)
    if np.isfinite(p_a).any():
        return p_a, None
    pairs = ctx.pairs
    single = single_order_p_a(pairs["p_first_ab"].to_numpy(dtype=float), pairs["p_first_ba"].to_numpy(dtype=float))
    return single, ("no pair was judged in both orders: the judge's preference is its single-order P(A), "
                    "not position-debiased")


def human_choice(ctx: AuditContext) -> np.ndarray:
    """The human majority per pair on the choice codes (tie when the share preferring A is exactly ½)."""
    return choice_codes(ctx.pairs["human_p_a"].to_numpy(dtype=float))


def has_human_labels(ctx: AuditContext) -> bool:
    """True when at least one judged pair carries a human label."""
    return "human_p_a" in ctx.pairs.columns and bool(np.isfinite(ctx.pairs["human_p_a"].to_numpy(float)).any())


def failed_order(ctx: AuditContext) -> np.ndarray:
    """Per pair: True when the judgment of an order failed to parse (a null verdict and no probability)."""
    pairs = ctx.pairs
    return ((pairs["status_ab"] == "failed") | (pairs["status_ba"] == "failed")).to_numpy(dtype=bool)


def note_failed_orders(ctx: AuditContext, used: np.ndarray, result: AuditResult, left_out_of: str) -> int:
    """Record how many pairs an auditor left out because an order failed: a note and ``tables["dropped_pairs"]``.

    ``used``: per pair of ``ctx.pairs``, whether the auditor used it. Returns the count; nothing is recorded at 0.
    """
    dropped = int((failed_order(ctx) & ~np.asarray(used, dtype=bool)).sum())
    if dropped:
        result.tables["dropped_pairs"] = [{"reason": "an order failed to parse (null verdict)", "pairs": dropped,
                                           "left_out_of": left_out_of}]
        result.notes.append(f"{dropped} pair(s) with a failed order are left out of {left_out_of}.")
    return dropped


def has_list(texts: pd.Series) -> np.ndarray:
    """Whether each text holds a Markdown-style list item (``LIST_PATTERN``, matched by pyarrow's RE2)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(pd.Series(texts, dtype=object).where(pd.notna(texts), "")
                     if not pd.api.types.is_string_dtype(texts) else texts, type=pa.large_string())
    matched = pc.fill_null(pc.match_substring_regex(array, LIST_PATTERN.pattern), False)
    return matched.to_numpy(zero_copy_only=False).astype(bool)


def log_length_ratio(len_first: np.ndarray, len_second: np.ndarray) -> np.ndarray:
    """``log((len_first + 1) / (len_second + 1))`` in characters (the +1 keeps empty replies finite)."""
    return np.log1p(np.asarray(len_first, dtype=float)) - np.log1p(np.asarray(len_second, dtype=float))


def length_buckets(len_a: np.ndarray, len_b: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Bucket index of ``len_a − len_b`` per pair and the bucket labels."""
    edges = np.array(LENGTH_EDGES)
    index = np.searchsorted(edges[1:-1], np.asarray(len_a) - np.asarray(len_b), side="left")
    labels = [f"({_edge(lo)}, {_edge(hi)}]" for lo, hi in zip(edges[:-1], edges[1:])]
    return index, labels


def _edge(value: float) -> str:
    return "-inf" if value == -np.inf else ("inf" if value == np.inf else f"{int(value)}")


def option(ctx: AuditContext, name: str) -> Any:
    """An audit option from ``ctx.options`` with its documented default."""
    return ctx.options.get(name, DEFAULT_OPTIONS.get(name))
