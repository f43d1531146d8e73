"""A model-free evaluator with injectable biases, and generated pairs with known truth, for testing auditors."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.records.types import HumanLabel, JudgeItem, Judgment, PreferencePair

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

QUALITY_TAG = re.compile(r"\[quality: (-?\d+(?:\.\d+)?)\]\s*$")
HASH_KEY = "rlaif-audit-syn0"  # 16 bytes, as pandas' hash_array requires
FILLER = "The answer weighs the question with care and explains each step of its reasoning in plain words. " * 80
LIST_BLOCK = "\n- a first point\n- a second point\n- a third point\n"
CATEGORIES = ("advice", "coding", "math", "writing")


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
    :func:`synthetic_judgments` give identical judgments.

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


# --------------------------------------------------------------------------------------------- judge model


def text_quality(text: str) -> float:
    """The quality a synthetic judge perceives: the ``[quality: x]`` tag, else a N(0, 1) draw from the hash."""
    from statistics import NormalDist

    match = QUALITY_TAG.search(text)
    if match:
        return float(match.group(1))
    digest = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    return NormalDist().inv_cdf((digest + 0.5) / 2**64)


def unit_hash(keys: Sequence[str], salt: str) -> np.ndarray:
    """A uniform (0, 1) number per key, a stable hash of (salt, key)."""
    import numpy as np
    import pandas as pd

    salted = np.array([f"{salt}\x00{key}" for key in keys], dtype=object)
    mixed = pd.util.hash_array(salted, hash_key=HASH_KEY, categorize=False).astype(np.uint64)
    return ((mixed >> np.uint64(11)).astype(float) + 0.5) / 2.0**53


def judge_arrays(pair_ids: Sequence[str], orders: np.ndarray, q_first: np.ndarray, q_second: np.ndarray,
                 len_first: np.ndarray, len_second: np.ndarray, list_first: np.ndarray, list_second: np.ndarray,
                 config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised judge: P(first), verdict, failed flag and log-odds per item."""
    import numpy as np
    from scipy.special import ndtri

    from rlaif_audit.auditing.context import log_length_ratio
    from rlaif_audit.auditing.stats import sigmoid
    from rlaif_audit.records.preference import VERDICTS, choice_codes

    seed = int(config.get("seed") or 0)
    order_keys = [f"{pid}\x00{order}" for pid, order in zip(pair_ids, orders)]
    u_pair = unit_hash(pair_ids, f"pair:{seed}")
    favours_first = np.where(np.asarray(orders) == "ab", 1.0, -1.0)  # ε_pair favours A, shown first in order ab
    z = (float(config["strength"]) * (q_first - q_second)
         + float(config["length_pref"]) * log_length_ratio(len_first, len_second)
         + float(config["list_pref"]) * (np.asarray(list_first, float) - np.asarray(list_second, float))
         + float(config["position_bias"])
         + favours_first * float(config["pair_noise"]) * np.log(u_pair / (1 - u_pair))
         + float(config["noise"]) * ndtri(unit_hash(order_keys, f"order:{seed}")))
    p_first = sigmoid(z / float(config["temperature"]))
    verdict = np.asarray(VERDICTS)[choice_codes(p_first, float(config["tie_band"]))]
    failed = unit_hash(order_keys, f"fail:{seed}") < float(config["fail_rate"])
    return p_first, verdict, failed, z


def evaluator_config(**overrides: Any) -> dict[str, Any]:
    """The synthetic judge's full config: option defaults with ``overrides``; unknown names are an error."""
    return SyntheticEvaluator(**overrides).config


# ------------------------------------------------------------------------------------------- pairs and truth


def compose_text(index: int, side: str, length: int, with_list: bool, quality: float) -> str:
    """A synthetic response of about ``length`` characters ending in its quality tag."""
    head = f"Response {side} to prompt {index}: "
    tail = (LIST_BLOCK if with_list else "") + f"\n[quality: {quality:.4f}]"
    return head + FILLER[: max(0, length - len(head) - len(tail))] + tail


def tagged(values: np.ndarray) -> np.ndarray:
    """Qualities rounded exactly as the text tag prints and the judge parses them."""
    import numpy as np

    return np.array([float(f"{value:.4f}") for value in values])


def synthetic_arrays(n: int, seed: int, *, quality_gap: float | None = None, list_rate: float = 0.3,
                     mean_length: float = 300.0) -> dict[str, np.ndarray]:
    """Per-pair truth: qualities (4 decimals, as tagged), target lengths, list flags and category."""
    import numpy as np

    rng = np.random.default_rng([seed, 1])
    if quality_gap is None:
        q_a, q_b = rng.standard_normal(n), rng.standard_normal(n)
    else:
        a_better = rng.random(n) < 0.5
        q_a = np.where(a_better, quality_gap / 2, -quality_gap / 2)
        q_b = -q_a
    lengths = np.exp(rng.normal(math.log(mean_length), 0.7, size=(2, n))).clip(40, 4000).astype(int)
    lists = rng.random((2, n)) < list_rate
    return {"q_a": tagged(q_a), "q_b": tagged(q_b), "target_a": lengths[0], "target_b": lengths[1],
            "list_a": lists[0], "list_b": lists[1], "category": rng.integers(0, len(CATEGORIES), n)}


def human_labels_array(truth: dict[str, np.ndarray], len_a: np.ndarray, len_b: np.ndarray, seed: int, *,
                       n_annotators: int, human_noise: float, human_length_pref: float,
                       human_tie_band: float) -> np.ndarray:
    """Labels (annotators × pairs of a/b/tie): utility Δq + length term + human_noise·Logistic; tie in the band."""
    import numpy as np

    from rlaif_audit.auditing.context import log_length_ratio

    rng = np.random.default_rng([seed, 2])
    utility = truth["q_a"] - truth["q_b"] + human_length_pref * log_length_ratio(len_a, len_b)
    noisy = utility + human_noise * rng.logistic(size=(n_annotators, len(utility)))
    return np.where(noisy > human_tie_band, "a", np.where(noisy < -human_tie_band, "b", "tie"))


def synthetic_frames(n: int, seed: int = 0, *, n_annotators: int = 1, human_noise: float = 1.0,
                     human_length_pref: float = 0.0, human_tie_band: float = 0.0, quality_gap: float | None = None,
                     list_rate: float = 0.3, mean_length: float = 300.0, id_prefix: str = "syn",
                     with_context: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vectorised pairs (``pair_id``, ``a``, ``b``, ``context``, metadata columns) and labels as DataFrames."""
    import numpy as np
    import pandas as pd

    truth = synthetic_arrays(n, seed, quality_gap=quality_gap, list_rate=list_rate, mean_length=mean_length)
    a = [compose_text(i, "A", t, bool(li), q) for i, (t, li, q) in
         enumerate(zip(truth["target_a"], truth["list_a"], truth["q_a"]))]
    b = [compose_text(i, "B", t, bool(li), q) for i, (t, li, q) in
         enumerate(zip(truth["target_b"], truth["list_b"], truth["q_b"]))]
    ids = [f"{id_prefix}-{i:07d}" for i in range(n)]
    pairs = pd.DataFrame({"pair_id": ids, "a": a, "b": b, "quality_a": truth["q_a"], "quality_b": truth["q_b"],
                          "category": np.array(CATEGORIES)[truth["category"]]})
    if with_context:
        pairs.insert(1, "context", [[{"role": "user", "content": f"Synthetic prompt {i}"}] for i in range(n)])
    labels = human_labels_array(truth, pairs["a"].str.len().to_numpy(), pairs["b"].str.len().to_numpy(), seed,
                                n_annotators=n_annotators, human_noise=human_noise,
                                human_length_pref=human_length_pref, human_tie_band=human_tie_band)
    label_frame = pd.DataFrame({"pair_id": np.tile(ids, n_annotators), "preferred": labels.ravel(),
                                "annotator": np.repeat([f"h{k}" for k in range(n_annotators)], n)})
    return pairs, label_frame


def make_synthetic_pairs(n: int, seed: int = 0, **options: Any) -> tuple[list[PreferencePair], list[HumanLabel]]:
    """``n`` pairs whose truth is known (metadata quality_a/quality_b/category) and their human labels.

    ``options``: ``n_annotators`` (1), ``human_noise`` (1.0: annotators prefer A with probability
    σ(Δu / human_noise)), ``human_length_pref`` (0.0), ``human_tie_band`` (0.0), ``quality_gap`` (None:
    qualities N(0, 1); a number: one response better by exactly that gap), ``list_rate`` (0.3),
    ``mean_length`` (300 characters, log-normal).
    """
    pairs_df, labels_df = synthetic_frames(n, seed, **options)
    pairs = [PreferencePair(id=row.pair_id, context=row.context, a=row.a, b=row.b,
                            metadata={"quality_a": float(row.quality_a), "quality_b": float(row.quality_b),
                                      "category": row.category})
             for row in pairs_df.itertuples(index=False)]
    labels = [HumanLabel(pair_id=row.pair_id, preferred=row.preferred, annotator=row.annotator)
              for row in labels_df.itertuples(index=False)]
    return pairs, labels


def synthetic_judgments(pairs: pd.DataFrame, config: dict[str, Any] | None = None,
                        evaluator_id: str = "") -> pd.DataFrame:
    """Both orders of every pair judged at once (the same numbers the evaluator gives), as a judgments table."""
    import numpy as np
    import pandas as pd

    from rlaif_audit.auditing.context import has_list

    config = evaluator_config(**(config or {}))
    n = len(pairs)
    quality = (pairs["quality_a"].to_numpy(float), pairs["quality_b"].to_numpy(float))
    lengths = (pairs["a"].str.len().to_numpy(), pairs["b"].str.len().to_numpy())
    lists = (has_list(pairs["a"]), has_list(pairs["b"]))
    ids = np.concatenate([pairs["pair_id"].to_numpy(), pairs["pair_id"].to_numpy()])
    orders = np.repeat(np.array(["ab", "ba"]), n)
    swap: Callable[[tuple[np.ndarray, np.ndarray], int], np.ndarray] = (
        lambda both, side: np.concatenate([both[side], both[1 - side]]))
    p_first, verdict, failed, _ = judge_arrays(ids, orders, swap(quality, 0), swap(quality, 1), swap(lengths, 0),
                                               swap(lengths, 1), swap(lists, 0), swap(lists, 1), config)
    return pd.DataFrame({
        "pair_id": ids, "order": orders, "p_first": np.where(failed, np.nan, p_first),
        "verdict": pd.Series(verdict, dtype=object).where(~failed, None),
        "parse_status": np.where(failed, "failed", "ok"), "raw": None, "latency_s": 0.0,
        "evaluator": SyntheticEvaluator.name, "evaluator_id": evaluator_id,
    })


@hookimpl
def register_evaluators(register: Callable[[type[Evaluator]], None]) -> None:
    """Register the synthetic evaluator."""
    register(SyntheticEvaluator)
