"""AlpacaEval's length-controlled win rate (Dubois et al. 2024): a GLM of the preference on length and difficulty.

Follows ``alpaca_eval/metrics/glm_winrate.py`` (alpaca_eval commit cd543a1, Apache-2.0): per model against its
baseline, the preference ``x = preference − 1`` (1: the model wins, ½ a draw) is fitted by a logistic GLM
without intercept on ``tanh(Δlen / sd(Δlen))`` (Δlen = baseline length − model length, characters, sd with
ddof = 1), the instruction difficulty and a constant (``not_gamed_baseline``), with continuous targets (each
annotation duplicated with label 1 weighted x and label 0 weighted 1 − x), L1 penalty, liblinear, C chosen by
``LogisticRegressionCV`` with 5-fold ``GroupKFold`` on the continuous log loss, ``random_state=123``. The
length-controlled win rate is 100 × the mean predicted preference at Δlen = 0 over all the model's annotations;
``lc_standard_error`` is 100 × the sem of those predictions (AlpacaEval's field: the spread over instructions,
not a confidence interval of the fit). AlpacaEval's default GLM (``length_controlled_v1``) also regularises
toward its two gamed baselines (df_gamed.csv, λ = 0.2), data this tool does not have: with instruction
difficulties it fits ``length_controlled_noreg``, without them ``length_controlled_minimal`` (no difficulty term).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

GLM_WITH_DIFFICULTY = "length_controlled_noreg"
GLM_WITHOUT_DIFFICULTY = "length_controlled_minimal"
N_SPLITS = 5


def continuous_log_loss(y_true: np.ndarray, y_pred: np.ndarray, true_prob: np.ndarray) -> float:
    """AlpacaEval's ``logloss_continuous``: log loss against the duplicated rows' target probabilities."""
    import numpy as np

    target = np.where(y_true == 1, true_prob, 1 - true_prob)
    pred = np.clip(y_pred, 1e-15, 1 - 1e-15)
    return float(-np.mean(target * np.log(pred) + (1 - target) * np.log(1 - pred)))


def design(delta_len: np.ndarray, difficulty: np.ndarray | None) -> np.ndarray:
    """The GLM's columns in AlpacaEval's formula order: tanh(std Δlen), [instruction difficulty], constant."""
    import numpy as np

    columns = [np.tanh(delta_len)] + ([] if difficulty is None else [difficulty]) + [np.ones(len(delta_len))]
    return np.column_stack(columns)


def fit_glm(features: np.ndarray, target: np.ndarray) -> Any:
    """LogisticRegressionCV on continuous targets exactly as AlpacaEval's ``fit_LogisticRegressionCV``."""
    import warnings

    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    n = len(target)
    x_dup = np.vstack([features, features])
    y_dup = np.concatenate([np.ones(n, dtype=int), np.zeros(n, dtype=int)])
    prob = np.concatenate([target, 1 - target])
    groups = np.concatenate([np.arange(n), np.arange(n)])
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sklearn ≥ 1.8 deprecates penalty=; same estimator
        scorer = make_scorer(continuous_log_loss, response_method="predict_proba",
                             greater_is_better=False).set_score_request(true_prob=True)
        model = LogisticRegressionCV(cv=GroupKFold(n_splits=N_SPLITS), scoring=scorer, random_state=123, dual=False,
                                     penalty="l1", solver="liblinear", n_jobs=None, fit_intercept=False)
        model.set_fit_request(sample_weight=True)
        model.fit(x_dup, y_dup, sample_weight=prob, groups=groups, true_prob=prob)
    return model


def length_controlled_win_rate(preference: np.ndarray, len_model: np.ndarray, len_baseline: np.ndarray,
                               difficulty: np.ndarray | None = None) -> dict[str, Any]:
    """``length_controlled_win_rate``, ``lc_standard_error`` (percent) and ``lc_glm`` of one model vs its baseline.

    ``preference`` in AlpacaEval's encoding (1: baseline wins, 2: the model wins, 1.5 draw; NaN unparsed, kept
    for the prediction as AlpacaEval does); ``difficulty`` per annotation or None. Too few annotations for the
    5-fold fit (or a constant length difference) give None values.
    """
    import numpy as np

    preference = np.asarray(preference, dtype=float)
    target = np.where(preference == 0.0, 1.5, preference) - 1.0
    delta = np.asarray(len_baseline, dtype=float) - np.asarray(len_model, dtype=float)
    name = GLM_WITHOUT_DIFFICULTY if difficulty is None else GLM_WITH_DIFFICULTY
    out: dict[str, Any] = {"length_controlled_win_rate": None, "lc_standard_error": None, "lc_glm": name}
    train = np.isfinite(target) & np.isfinite(delta)
    sd = float(np.std(delta[np.isfinite(delta)], ddof=1)) if np.isfinite(delta).sum() > 1 else math.nan
    if train.sum() < 2 * N_SPLITS or not sd > 0 or (difficulty is not None and not np.isfinite(difficulty).all()):
        return out
    features = design(delta / sd, None if difficulty is None else np.asarray(difficulty, dtype=float))
    model = fit_glm(features[train], target[train])
    at_equal_length = features.copy()
    at_equal_length[:, 0] = 0.0  # tanh(0)
    predicted = model.predict_proba(at_equal_length[np.isfinite(delta)])[:, 1]
    out["length_controlled_win_rate"] = float(predicted.mean() * 100)
    out["lc_standard_error"] = float(predicted.std(ddof=1) / math.sqrt(len(predicted)) * 100)
    return out
