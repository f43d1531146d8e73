"""Labeling: show each pair to an evaluator in both orders and append the judgments to a file."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.data.judgment_file import JudgmentFile, read_judgments
from rlaif_audit.records.preference import (CHOICE_A, CHOICE_B, CHOICE_NAMES, P_FIRST_OF_VERDICT, choice_codes,
                                            human_share, pair_p_a)
from rlaif_audit.records.provenance import LabelProvenance
from rlaif_audit.records.types import HumanLabel, JudgeItem, PreferencePair

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.judging.evaluator import Evaluator

CHUNK_SIZE = 64  # items handed to the evaluator at a time; judgments are fsynced after each chunk


def judge_items(pairs: Sequence[PreferencePair]) -> list[JudgeItem]:
    """Each pair in both orders: ``ab`` shows A first, ``ba`` shows B first."""
    items = []
    for pair in pairs:
        items.append(JudgeItem(pair.id, "ab", pair.context, pair.a, pair.b))
        items.append(JudgeItem(pair.id, "ba", pair.context, pair.b, pair.a))
    return items


def debiased_p_a(judgments: pd.DataFrame) -> pd.Series:
    """P(A ≻ B) per pair of a judgments table by the two-order rule (``records.preference.pair_p_a``).

    Position-debiased where both orders carry ``p_first``; MT-Bench's games rule where an order has a verdict only.
    A pair missing an order or with a failed parse in either order gets NaN.
    """
    import pandas as pd

    implied = judgments["verdict"].map(P_FIRST_OF_VERDICT).astype(float) if "verdict" in judgments.columns else None
    given = pd.to_numeric(judgments["p_first"], errors="coerce").astype(float)
    table = judgments[["pair_id", "order"]].assign(p=given if implied is None else given.fillna(implied),
                                                   prob=given.notna().astype(float))
    wide = table.pivot_table(index="pair_id", columns="order", values=["p", "prob"], aggfunc="first", dropna=False)
    p_first = wide["p"].reindex(columns=["ab", "ba"])
    prob = wide["prob"].reindex(columns=["ab", "ba"]).fillna(0.0) > 0
    p_a = pair_p_a(p_first["ab"], p_first["ba"], prob["ab"], prob["ba"])
    return pd.Series(p_a, index=p_first.index, name="p_a")


@dataclass
class LabelSummary:
    """What a labeling run did, printed at its end."""

    pairs: int
    judgments: int
    new_judgments: int
    parse_failures: int
    seconds: float
    agreement: dict[str, Any] | None = None
    skipped_rows: int = 0
    data_hash: str = ""

    def lines(self) -> list[str]:
        rate = self.new_judgments / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"pairs: {self.pairs}",
            f"judgments: {self.judgments} ({self.new_judgments} new, {rate:.1f} judgments/s)",
            f"parse failures: {self.parse_failures}",
            f"skipped input rows: {self.skipped_rows}",
        ]
        if self.agreement:
            agr = self.agreement
            out.append(
                f"agreement with humans (debiased, ties excluded): {agr['value']:.3f} "
                f"[95% CI {agr['ci'][0]:.3f}, {agr['ci'][1]:.3f}], n={agr['n']}"
            )
        return out


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="judgment", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def label_pairs(
    evaluator: Evaluator,
    pairs: Sequence[PreferencePair],
    out_path: Path | str,
    *,
    ab_seed: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
) -> LabelSummary:
    """Judge every pair in both orders, appending to ``out_path``; resumes where a previous run stopped.

    Each judgment carries the run's provenance: ``ab_seed`` (the A/B coin's seed, None when the pairs come with A
    and B fixed), the pair's ``ab_hash`` and the pairs' ``data_hash`` (:class:`LabelProvenance`).
    """
    provenance = LabelProvenance.of(pairs, ab_seed)
    store = JudgmentFile(out_path, evaluator.name, evaluator.identity_hash(), provenance)
    todo = [item for item in judge_items(pairs) if (item.pair_id, item.order) not in store.done]
    started = time.perf_counter()
    new = 0
    with _progress(2 * len(pairs), 2 * len(pairs) - len(todo), progress) as bar:
        for start in range(0, len(todo), chunk_size):
            buffered = []
            for judgment in evaluator.judge(todo[start : start + chunk_size]):
                buffered.append(judgment)
                bar.update(1)
            new += store.append(buffered)
    wanted = {pair.id for pair in pairs}
    return LabelSummary(
        pairs=len(pairs),
        judgments=sum(1 for pair_id, _ in store.done if pair_id in wanted),
        new_judgments=new,
        parse_failures=store.parse_failures,
        seconds=time.perf_counter() - started,
        data_hash=provenance.data_hash,
    )


def human_p_a(labels: Sequence[HumanLabel]) -> dict[str, float]:
    """Share of annotators preferring A per pair (a tie counts half)."""
    counts: dict[str, list[int]] = {}
    for label in labels:
        counts.setdefault(label.pair_id, [0, 0, 0])[CHOICE_NAMES.index(label.preferred)] += 1
    shares = human_share(*zip(*counts.values())) if counts else []
    return {pair_id: float(share) for pair_id, share in zip(counts, shares)}


def raw_agreement(judgments_path: Path | str, pairs: Sequence[PreferencePair],
                  labels: Sequence[HumanLabel]) -> dict[str, Any] | None:
    """Agreement of the debiased choice with the human majority, ties on either side excluded, Wilson 95% CI.

    The agreement auditor counts ``accuracy`` the same way (at ``tie_band`` 0); the interval is the Wilson one of
    ``auditing.stats``.
    """
    import numpy as np

    from rlaif_audit.auditing.stats import proportion_metric

    if not labels:
        return None
    human = human_p_a(labels)
    judge_p = debiased_p_a(read_judgments(judgments_path))
    wanted = {pair.id for pair in pairs} & set(human)
    judged = judge_p[judge_p.index.isin(wanted)]
    judge = choice_codes(judged.to_numpy(dtype=float))
    majority = choice_codes(np.array([human[pair_id] for pair_id in judged.index], dtype=float))
    decisive = np.isin(judge, (CHOICE_A, CHOICE_B)) & np.isin(majority, (CHOICE_A, CHOICE_B))
    if not decisive.any():
        return None
    return proportion_metric(int(np.sum(judge[decisive] == majority[decisive])), int(decisive.sum())).to_dict()
