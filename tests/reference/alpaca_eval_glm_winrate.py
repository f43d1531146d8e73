# Vendored from AlpacaEval (https://github.com/tatsu-lab/alpaca_eval), commit cd543a149df89434d8a54582c0151c0b945c3d20,
# src/alpaca_eval/metrics/glm_winrate.py (Dubois et al. 2024, "Length-Controlled AlpacaEval").
# Copyright 2024 The AlpacaEval authors. Licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Verbatim: GLM_INFO, _logistic, make_dmatrix_for_model, logloss,
# logloss_continuous, fit_LogisticRegressionCV. Changed: _get_featurized_data takes the instruction difficulties as an
# argument (upstream downloads df_gamed.csv from the Hugging Face Hub; the gamed baselines are only used when
# regularize_to_baseline_lambda is set, which the tests do not), and length_controlled_winrate is the GLM part of
# get_length_controlled_winrate (no weight saving, no get_winrate). Test-only: rlaif-audit does not import it.
# ruff: noqa
from typing import Optional

import numpy as np
import pandas as pd
import sklearn
from patsy import build_design_matrices, dmatrix
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import make_scorer
from sklearn.model_selection import GroupKFold, StratifiedKFold

GLM_INFO = {
    "length_controlled_v1": {
        "formula": "np.tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline.astype(float) - 1",
        "regularize_to_baseline_lambda": 0.2,
        "kwargs": {"n_splits": 5},
    },
    "length_controlled_noreg": {
        "formula": "np.tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline.astype(float) - 1",
        "regularize_to_baseline_lambda": None,
        "kwargs": {"n_splits": 5},
    },
    "length_controlled_minimal": {
        "formula": "np.tanh(std_delta_len) + not_gamed_baseline.astype(float) - 1",
        "regularize_to_baseline_lambda": None,
        "kwargs": {"n_splits": 5},
    },
}
def _logistic(x):
    """Logistic function."""
    return np.exp(-np.logaddexp(0, -x))


def make_dmatrix_for_model(
    df_train: pd.DataFrame, df_test: pd.DataFrame, formula: str, col_y_true="preference"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the design matrix based on a patsy formula.

    Parameters
    ----------
    df_train : pd.DataFrame
        The dataframe to train on. Should contain features and the true labels.

    df_test : pd.DataFrame
        The dataframe to predict on. Should contain the same features as df_train.

    formula : str
        The R-style formula to use for the GLM. See patsy.

    col_y_true : str, optional
        The name of the column containing the true labels.
    """
    df_XY_train = dmatrix(formula, df_train, return_type="dataframe")
    df_X_test = build_design_matrices([df_XY_train.design_info], df_test, return_type="dataframe")[0]
    df_XY_train[col_y_true] = df_train[col_y_true]  # adds the label
    return df_XY_train, df_X_test


def logloss(y_true, y_pred, sample_weight=None):
    """Compute the logloss of the predictions, potentially weighted."""
    epsilon = 1e-15
    y_pred = np.clip(y_pred, epsilon, 1 - epsilon)
    all_logloss = y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred)
    if sample_weight is not None:
        # weight as desired
        all_logloss = all_logloss * sample_weight
    return -np.mean(all_logloss)


def logloss_continuous(y_true, y_pred, true_prob, true_sample_weight=None):
    """Computes the log loss with continuous targets for sklearn. Need to hack it as sklearn expects int targets."""
    # y_true is binary and sample_weight says the proba for that class. Let's revert that transform
    y_true = np.where(y_true == 1, true_prob, 1 - true_prob)
    return logloss(y_true, y_pred, sample_weight=true_sample_weight)


def fit_LogisticRegressionCV(data, col_y_true, is_ytrue_proba=True, n_splits=5, C=100, sample_weight=None, **kwargs):
    """Fits LogisticRegressionCV with optionally y_true being probabilities rather than the labels."""
    sklearn.set_config(enable_metadata_routing=True)
    dflt_kwargs = dict(random_state=123, dual=False, penalty="l1", solver="liblinear", n_jobs=None, fit_intercept=False)
    dflt_kwargs.update(kwargs)
    if not is_ytrue_proba:
        if n_splits > 0:
            cv = StratifiedKFold(n_splits=n_splits)
            scorer = make_scorer(sk_log_loss, greater_is_better=False, needs_proba=True)
            if sample_weight is None:
                model = LogisticRegressionCV(cv=cv, scorer=scorer, **dflt_kwargs)
            else:
                scorer = scorer.set_score_request(sample_weight=True)
                model = LogisticRegressionCV(cv=cv, scorer=scorer, **dflt_kwargs)

        else:
            model = LogisticRegression(C=C, **dflt_kwargs)

        model.fit(data.drop(columns=[col_y_true]), (data[col_y_true]).round().astype(int), sample_weight=sample_weight)

    else:  # use log loss without assuming that labels are discrete
        # duplicate the df, once with label 0 and once with label 1
        data = data.reset_index(drop=True).reset_index(drop=False, names=["group"])
        data_1 = data.copy()
        data_1["y"] = 1
        data_0 = data.copy()
        data_0[col_y_true] = 1 - data_0[col_y_true]
        data_0["y"] = 0
        data_dup = pd.concat([data_1, data_0], axis=0).reset_index(drop=True)
        true_prob = data_dup[col_y_true]

        if sample_weight is None:
            true_sample_weight = None
            sample_weight = true_prob
        else:
            true_sample_weight = np.concatenate([sample_weight, sample_weight], axis=0)  # actual sample weight
            # multiply the true probabilities by the actual sample_weight you want
            sample_weight = true_prob * true_sample_weight

        if n_splits > 0:
            cv = GroupKFold(n_splits=n_splits)
            scorer = make_scorer(
                logloss_continuous, response_method="predict_proba", greater_is_better=False
            ).set_score_request(true_sample_weight=True, true_prob=True)
            model = LogisticRegressionCV(cv=cv, scoring=scorer, **dflt_kwargs)
            fit_kwargs = dict(groups=data_dup["group"], true_sample_weight=true_sample_weight, true_prob=true_prob)
        else:
            model = LogisticRegression(C=C, **dflt_kwargs)
            fit_kwargs = dict()

        model.set_fit_request(sample_weight=True)
        model.fit(
            X=data_dup.drop(columns=[col_y_true, "y", "group"]),
            y=data_dup["y"],
            sample_weight=sample_weight,
            **fit_kwargs,
        )
    return model


def _get_featurized_data(
    df_annotations: pd.DataFrame, formula: str, instruction_difficulty: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, Optional[pd.Series]]:
    """Upstream's featurization without the gamed baselines (regularize_to_baseline_lambda=None)."""
    df = df_annotations.reset_index()
    len_1 = df["output_1"].str.len()
    len_2 = df["output_2"].str.len()
    std_delta_len = len_1 - len_2
    df = df[["preference", "index"]].copy()
    df["std_delta_len"] = std_delta_len / std_delta_len.std()
    df["preference"] = df["preference"].astype(float).replace({0.0: 1.5}) - 1  # easier to work with in [0,1]
    df["instruction_difficulty"] = df["index"].transform(lambda g: instruction_difficulty[g])
    df["not_gamed_baseline"] = True

    # 3. make the design matrix for the model you would like to predict for, i.e., if there was no length difference
    df_test = df[["instruction_difficulty", "not_gamed_baseline"]].copy()
    df_test["std_delta_len"] = 0

    sample_weight = None
    df_XY_train, df_X_test = make_dmatrix_for_model(df, df_test, formula=formula)
    return df_XY_train, df_X_test, sample_weight


def length_controlled_winrate(df: pd.DataFrame, instruction_difficulty: pd.Series, glm_name: str) -> dict:
    """The GLM part of upstream's get_length_controlled_winrate for one model against its baseline."""
    glm_info = GLM_INFO[glm_name]
    df_XY_train, df_X_test, sample_weight = _get_featurized_data(
        df, formula=glm_info["formula"], instruction_difficulty=instruction_difficulty
    )
    filter_df = df_XY_train["preference"].notna()
    df_XY_train = df_XY_train[filter_df]
    model = fit_LogisticRegressionCV(
        df_XY_train, "preference", is_ytrue_proba=True, sample_weight=sample_weight, **glm_info["kwargs"]
    )
    predicted_preferences = model.predict_proba(df_X_test)[:, 1]
    return dict(
        length_controlled_winrate=predicted_preferences.mean() * 100,
        lc_standard_error=pd.Series(predicted_preferences).sem() * 100,
    )
