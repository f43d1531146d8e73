"""A model-free evaluator with injectable biases, for testing auditors (its arithmetic: judging.bias_injection)."""

from __future__ import annotations

import json
from typing import Callable, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.judging.bias_injection import judge_arrays, text_quality
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.records.types import JudgeItem, Judgment


class SyntheticEvaluator(Evaluator):
    """A model-free judge whose first-slot bias, length and list preference, noise and confidence are set.

    It reads each response's quality from a ``[quality: 0.1234]`` tag at its end
    (a text without a tag gets a pseudo-random N(0, 1) quality from its hash) and
    returns ``P(first better) = σ(z / temperature)`` with

        z = strength·(q_first − q_second) + length_pref·log((len_first+1)/(len_second+1))
            + list_pref·(list_first − list_second) + position_bias ± pair_noise·ε_pair + noise·ε_order

    ε_pair ~ Logistic(0, 1) per pair (one misjudgement, favouring the same response
    in both orders), ε_order ~ N(0, 1) per judgment (order inconsistency). The noise
    is a hash of (seed, pair id, order), so this loop and the vectorised
    :func:`rlaif_audit.testing.synthetic_judgments` give identical judgments.

    Known truth for the auditors (no other bias, temperature 1 unless stated):
    ``position_bias`` b → position.first_slot_log_odds ≈ b; ``length_pref`` λ with
    humans following quality alone and ``quality_gap`` set → length.length_coef ≈ λ;
    ``temperature`` t with ``strength`` = 1/``human_noise`` → calibration.temperature ≈ 1/t.
    """

    name = "synthetic"
    description = "Model-free judge with injectable biases (position, length, lists, noise, temperature) for tests"
    options = {
        "strength": Option("log-odds per unit of quality difference the judge perceives", 1.0, float),
        "position_bias": Option("log-odds added to the first slot (first-slot bias)", 0.0, float),
        "length_pref": Option("log-odds per unit of log length ratio first/second (length bias)", 0.0, float),
        "list_pref": Option("log-odds added when only the first response holds a list", 0.0, float),
        "noise": Option("sd of Gaussian log-odds noise per judgment (order inconsistency)", 0.0, float),
        "pair_noise": Option("scale of logistic log-odds noise per pair, shared by both orders", 0.0, float),
        "temperature": Option("divides the log-odds: > 1 under-confident, < 1 over-confident", 1.0, float),
        "tie_band": Option("verdict 'tie' when P(first) is within tie_band of 0.5", 0.0, float),
        "fail_rate": Option("share of judgments returned as parse failures", 0.0, float),
        "seed": Option("seed of the judge's noise", 0, int),
    }

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[Judgment]:
        """Judge a batch at once; one Judgment per item, in the items' order."""
        import numpy as np
        import pandas as pd

        from rlaif_audit.auditing.context import has_list

        items = list(items)
        if not items:
            return
        first = pd.Series([item.first for item in items], dtype=object)
        second = pd.Series([item.second for item in items], dtype=object)
        arrays = judge_arrays(
            [item.pair_id for item in items], np.array([item.order for item in items]),
            np.array([text_quality(t) for t in first]), np.array([text_quality(t) for t in second]),
            first.str.len().to_numpy(), second.str.len().to_numpy(), has_list(first), has_list(second), self.config)
        evaluator_id = self.identity_hash()
        for item, p_first, verdict, failed, z in zip(items, *arrays):
            yield Judgment(pair_id=item.pair_id, order=item.order, p_first=None if failed else float(p_first),
                           verdict=None if failed else verdict, parse_status="failed" if failed else "ok",
                           raw=json.dumps({"log_odds": float(z)}), latency_s=0.0, evaluator=self.name,
                           evaluator_id=evaluator_id)


@hookimpl
def register_evaluators(register: Callable[[type[Evaluator]], None]) -> None:
    """Register the synthetic evaluator."""
    register(SyntheticEvaluator)
