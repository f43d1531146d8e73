"""The synthetic judge's arithmetic: quality tags, hashed noise and P(first) with injected biases.

Both the ``synthetic`` evaluator and the vectorised ``rlaif_audit.testing.synthetic_judgments`` call
:func:`judge_arrays`, so the two give identical judgments.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np

QUALITY_TAG = re.compile(r"\[quality: (-?\d+(?:\.\d+)?)\]\s*$")
HASH_KEY = "rlaif-audit-syn0"  # 16 bytes, as pandas' hash_array requires
TAG_FORMAT = ".4f"  # the quality a tag prints, and so the quality the judge reads


def quality_tag(quality: float) -> str:
    """The tag that ends a synthetic response and tells the synthetic judge its quality."""
    return f"[quality: {quality:{TAG_FORMAT}}]"


def as_tagged(quality: float) -> float:
    """``quality`` rounded exactly as its tag prints it and :func:`text_quality` reads it back."""
    return float(f"{quality:{TAG_FORMAT}}")


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
    from rlaif_audit.auditing.estimators import sigmoid
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
