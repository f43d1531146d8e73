"""The synthetic evaluator and the known-truth pair generator."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from rlaif_audit.default_plugins.evaluators.synthetic import SyntheticEvaluator
from rlaif_audit.judging.bias_injection import text_quality
from rlaif_audit.testing import make_synthetic_pairs, synthetic_frames, synthetic_judgments


def judge_all(evaluator: SyntheticEvaluator, pairs: list) -> pd.DataFrame:
    from rlaif_audit.judging.labeling import judge_items

    return pd.DataFrame([j.to_dict() for j in evaluator.judge(judge_items(pairs))])


def test_synthetic_is_a_registered_evaluator(pm) -> None:
    from rlaif_audit.host import evaluators

    assert evaluators(pm).get("synthetic") is SyntheticEvaluator


def test_options_parse_from_strings_and_unknown_ones_are_errors() -> None:
    from rlaif_audit.errors import ConfigError

    evaluator = SyntheticEvaluator(position_bias="0.5", seed="3")
    assert evaluator.config["position_bias"] == 0.5 and evaluator.config["seed"] == 3
    with pytest.raises(ConfigError, match="Valid options: fail_rate, length_pref"):
        SyntheticEvaluator(bias=1)


def test_the_loop_and_the_vectorised_judge_give_the_same_judgments() -> None:
    options = {"position_bias": 0.3, "length_pref": 0.4, "list_pref": 0.2, "noise": 0.5, "pair_noise": 0.7,
               "temperature": 1.3, "seed": 4}
    pairs, _ = make_synthetic_pairs(60, seed=1)
    looped = judge_all(SyntheticEvaluator(**options), pairs).set_index(["pair_id", "order"])
    frame, _ = synthetic_frames(60, seed=1)
    vectorised = synthetic_judgments(frame, options).set_index(["pair_id", "order"])
    assert set(looped.index) == set(vectorised.index)
    joined = looped.join(vectorised.add_suffix("_vec"))
    assert joined["p_first"].to_numpy() == pytest.approx(joined["p_first_vec"].to_numpy(), abs=1e-12)
    assert (joined["verdict"] == joined["verdict_vec"]).all()


def test_judge_follows_its_model_in_both_orders() -> None:
    pairs, _ = make_synthetic_pairs(50, seed=2, quality_gap=1.0)
    judged = judge_all(SyntheticEvaluator(position_bias=0.8), pairs)
    by_pair = judged.pivot(index="pair_id", columns="order", values="p_first")
    logit = np.log(by_pair / (1 - by_pair))
    quality = {p.id: p.metadata["quality_a"] - p.metadata["quality_b"] for p in pairs}
    delta = by_pair.index.map(quality).to_numpy(float)
    assert (logit["ab"] - 0.8).to_numpy() == pytest.approx(delta, abs=1e-9)
    assert (logit["ba"] - 0.8).to_numpy() == pytest.approx(-delta, abs=1e-9)


def test_failures_and_ties_are_injected() -> None:
    pairs, _ = make_synthetic_pairs(400, seed=3)
    judged = judge_all(SyntheticEvaluator(fail_rate=0.2, tie_band=0.05, seed=1), pairs)
    failed = judged["parse_status"] == "failed"
    assert 0.15 < failed.mean() < 0.25
    assert judged.loc[failed, "p_first"].isna().all() and judged.loc[failed, "verdict"].isna().all()
    ties = judged.loc[~failed]
    assert ((ties["verdict"] == "tie") == ((ties["p_first"] - 0.5).abs() <= 0.05)).all()


def test_pairs_carry_their_truth_and_humans_follow_it() -> None:
    from scipy.special import expit

    pairs, labels = make_synthetic_pairs(3000, seed=4, human_noise=1.0)
    for pair in pairs[:20]:
        assert text_quality(pair.a) == pair.metadata["quality_a"]
        assert text_quality(pair.b) == pair.metadata["quality_b"]
    expected = expit(np.array([p.metadata["quality_a"] - p.metadata["quality_b"] for p in pairs]))
    observed = np.array([label.preferred == "a" for label in labels])
    se = np.sqrt(np.sum(expected * (1 - expected))) / len(pairs)
    assert abs(observed.mean() - expected.mean()) < 4 * se
    assert {label.annotator for label in labels} == {"h0"}


def test_several_annotators_ties_and_quality_gap() -> None:
    pairs, labels = make_synthetic_pairs(200, seed=5, n_annotators=3, human_tie_band=0.5, quality_gap=2.0)
    assert len(labels) == 600
    assert {label.preferred for label in labels} == {"a", "b", "tie"}
    gaps = {abs(p.metadata["quality_a"] - p.metadata["quality_b"]) for p in pairs}
    assert gaps == {2.0}


def test_text_quality_without_a_tag_is_a_stable_pseudo_random_normal() -> None:
    values = [text_quality(f"plain reply {i}") for i in range(2000)]
    assert text_quality("plain reply 7") == values[7]
    assert abs(np.mean(values)) < 0.1 and abs(np.std(values) - 1) < 0.1


def test_has_list_matches_pythons_regex() -> None:
    from rlaif_audit.auditing.context import LIST_PATTERN, has_list

    texts = ["no list here", "intro\n- item", "1. first\n2. second", "  * indented", "a - b", "3) x",
             "•\tbullet", "-no space", "12.5 percent", "", None, "line\n+ plus"]
    expected = [bool(LIST_PATTERN.search(t)) if t else False for t in texts]
    assert has_list(pd.Series(texts, dtype=object)).tolist() == expected
    assert expected == [False, True, True, True, False, True, True, False, False, False, False, True]
    assert bool(re.search(LIST_PATTERN, "x\n- y"))
