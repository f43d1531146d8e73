"""Prediction-powered inference: ppi_py's numbers to 1e-10, coverage with a biased judge, the `human-corrected` auditor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import ppi_py_mean as reference  # noqa: E402  (vendored ppi_py, MIT)

from rlaif_audit.auditing.ppi import mean_estimates, mean_of, ppi_mean, tuned_lambda  # noqa: E402
from rlaif_audit.auditing.stats import Z95  # noqa: E402


def scalar(value) -> float:
    """ppi_py returns shape-(1,) arrays."""
    return float(np.asarray(value).item())


def datasets():
    """Binary, tie-valued and continuous labels with informative, weak and constant-offset predictions."""
    rng = np.random.default_rng(3)
    y = rng.binomial(1, 0.6, 150).astype(float)
    yield y, np.clip(0.5 * y + rng.uniform(0, 0.6, 150), 0, 1), rng.uniform(0, 1, 900)
    y = rng.choice([0.0, 0.5, 1.0], 80)
    yield y, rng.uniform(0, 1, 80), rng.uniform(0, 1, 40)  # weak predictions, N < n
    x = rng.normal(size=500)
    yield x + rng.normal(size=500), 0.8 * x, 0.8 * rng.normal(size=3000) + 0.2


@pytest.mark.parametrize("case", range(3))
def test_estimates_match_ppi_py(case):
    y, f, f_unlabeled = list(datasets())[case]
    rows = {row.method: row for row in mean_estimates(y, f, f_unlabeled)}
    for method, lam in (("ppi++", None), ("ppi", 1.0), ("human-only", 0.0)):
        low, high = reference.ppi_mean_ci(y, f, f_unlabeled, alpha=0.05, lam=lam)
        row = rows[method]
        assert row.value == pytest.approx(scalar(reference.ppi_mean_pointestimate(y, f, f_unlabeled, lam=lam)),
                                          abs=1e-10)
        assert row.value - Z95 * row.se == pytest.approx(float(low[0]), abs=1e-10)
        assert row.value + Z95 * row.se == pytest.approx(float(high[0]), abs=1e-10)
    grads = (y - rows["ppi"].value, f - rows["ppi"].value, f_unlabeled - rows["ppi"].value)
    assert rows["ppi++"].lam == pytest.approx(reference._calc_lam_glm(*grads, np.eye(1), clip=True), abs=1e-12)
    all_f = np.concatenate([f, f_unlabeled])
    assert rows["ai-only"].value == pytest.approx(all_f.mean(), abs=1e-12)
    assert rows["ai-only"].se == pytest.approx(all_f.std() / np.sqrt(len(all_f)), abs=1e-12)


def test_vectorised_estimates_equal_one_at_a_time():
    from rlaif_audit.testing import biased_judge_sample

    sample = biased_judge_sample(5, 60, 300, seed=1)
    lam = tuned_lambda(sample["y"], sample["f"], sample["f_unlabeled"])
    value, se = ppi_mean(sample["y"], sample["f"], sample["f_unlabeled"], lam)
    for k in range(5):
        row = mean_estimates(sample["y"][k], sample["f"][k], sample["f_unlabeled"][k])[0]
        assert (row.value, row.se, row.lam) == pytest.approx((value[k], se[k], lam[k]), abs=1e-12)


def test_ppi_covers_where_the_biased_judge_alone_does_not():
    """300 audits, n = 200 human labels, N = 2000 AI-only pairs, a judge that over-prefers A."""
    from rlaif_audit.testing import biased_judge_sample

    sample = biased_judge_sample(300, 200, 2000, seed=20261203)
    y, f, f_u, truth = sample["y"], sample["f"], sample["f_unlabeled"], sample["truth"]
    estimates = {
        "ppi++": ppi_mean(y, f, f_u, tuned_lambda(y, f, f_u)),
        "ppi": ppi_mean(y, f, f_u, np.ones(len(y))),
        "human-only": mean_of(y),
        "ai-only": mean_of(np.concatenate([f, f_u], axis=1)),
    }
    coverage = {name: float(np.mean(np.abs(value - truth) <= Z95 * se)) for name, (value, se) in estimates.items()}
    width = {name: float(np.mean(2 * Z95 * se)) for name, (value, se) in estimates.items()}
    assert 0.93 <= coverage["ppi++"] <= 0.97, coverage
    assert 0.93 <= coverage["ppi"] <= 0.97, coverage
    assert 0.93 <= coverage["human-only"] <= 0.97, coverage
    assert coverage["ai-only"] < 0.2, coverage  # narrow and centred on the judge's bias
    assert width["ppi++"] < width["human-only"], width  # the AI labels buy precision


def test_power_tuning_never_does_worse_than_human_labels_alone():
    """A judge whose P(A) is mostly noise: plain PPI is wider than human-only; PPI++ tunes λ down and is not."""
    from rlaif_audit.testing import biased_judge_sample

    sample = biased_judge_sample(300, 200, 2000, seed=11, noise=4.0)
    y, f, f_u = sample["y"], sample["f"], sample["f_unlabeled"]
    lam = tuned_lambda(y, f, f_u)
    width = {"ppi++": ppi_mean(y, f, f_u, lam)[1].mean(), "ppi": ppi_mean(y, f, f_u, np.ones(len(y)))[1].mean(),
             "human-only": mean_of(y)[1].mean()}
    assert lam.mean() < 0.6
    assert width["ppi++"] < width["human-only"] < width["ppi"], width


# --------------------------------------------------------------------------------------------- the auditor


def run_cli(args):
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """240 synthetic pairs judged by a first-slot- and length-biased synthetic judge; humans label 90 of them."""
    from rlaif_audit.records.fileio import read_jsonl, write_jsonl
    from rlaif_audit.testing import write_synthetic_pairs

    folder = tmp_path_factory.mktemp("ppi")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 240, seed=5)
    judgments = folder / "judgments.jsonl"
    result = run_cli(["label", data, "-e", "synthetic", "-o", judgments, "-q", "-O", "position_bias=1.0",
                      "-O", "length_pref=1.0", "-O", "noise=0.5"])
    assert result.exit_code == 0, result.output
    rows = list(read_jsonl(data))
    picked = np.random.default_rng(0).choice(len(rows), 90, replace=False)
    human = folder / "human.jsonl"
    write_jsonl(human, [{"pair_id": rows[i]["id"], "preferred": rows[i]["preferred"], "annotator": "h1"}
                        for i in sorted(picked)])
    few = folder / "few.jsonl"
    write_jsonl(few, [{"pair_id": rows[i]["id"], "preferred": rows[i]["preferred"], "annotator": "h1"}
                      for i in sorted(picked[:12])])
    return {"data": data, "judgments": judgments, "human": human, "few": few}


def audit_report(args, out):
    result = run_cli(["audit", *args, "-o", out, "--n-bootstrap", "50", "--report-formats", "json"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def independent_inputs(files):
    """Per judged pair: the debiased P(A) from the judgments file and the human share from the --human file."""
    from rlaif_audit.records.fileio import read_jsonl

    p_first = {(row["pair_id"], row["order"]): row["p_first"] for row in read_jsonl(files["judgments"])}
    ids = sorted({pair for pair, _ in p_first})
    p_a = {pair: 0.5 * (p_first[pair, "ab"] + 1 - p_first[pair, "ba"]) for pair in ids}
    share = {row["pair_id"]: {"a": 1.0, "b": 0.0, "tie": 0.5}[row["preferred"]]
             for row in read_jsonl(files["human"])}
    labelled = [pair for pair in ids if pair in share]
    unlabelled = [pair for pair in ids if pair not in share]
    return (np.array([share[p] for p in labelled]), np.array([p_a[p] for p in labelled]),
            np.array([p_a[p] for p in unlabelled]))


def test_auditor_in_a_real_audit_matches_ppi_py(labelled, tmp_path):
    report = audit_report([labelled["judgments"], "--data", labelled["data"], "--human", labelled["human"],
                           "--auditors", "human-corrected"], tmp_path / "r")
    outcome = report["auditors"]["human-corrected"]
    assert outcome["status"] == "ok", outcome
    y, f, f_u = independent_inputs(labelled)
    assert (len(y), len(f_u)) == (90, 150)
    metrics = outcome["metrics"]
    for name, lam in (("win_rate", None), ("win_rate_ppi", 1.0), ("win_rate_human_only", 0.0)):
        low, high = reference.ppi_mean_ci(y, f, f_u, alpha=0.05, lam=lam)
        assert metrics[name]["value"] == pytest.approx(scalar(reference.ppi_mean_pointestimate(y, f, f_u, lam=lam)),
                                                       abs=1e-10)
        assert metrics[name]["ci"] == pytest.approx([max(0.0, float(low[0])), min(1.0, float(high[0]))], abs=1e-10)
    all_f = np.concatenate([f, f_u])
    assert metrics["win_rate_ai_only"]["value"] == pytest.approx(all_f.mean(), abs=1e-10)
    assert metrics["win_rate_ai_only"]["n"] == 240 and metrics["win_rate"]["n"] == 240
    hard_y, hard_f, hard_fu = (y > 0.5).astype(float), (f > 0.5).astype(float), (f_u > 0.5).astype(float)
    low, high = reference.ppi_mean_ci(hard_y, hard_f, hard_fu, alpha=0.05)
    assert metrics["preference_rate"]["value"] == pytest.approx(
        scalar(reference.ppi_mean_pointestimate(hard_y, hard_f, hard_fu)), abs=1e-10)
    assert metrics["preference_rate"]["ci"] == pytest.approx([float(low[0]), float(high[0])], abs=1e-10)
    assert [row["key"] for row in report["headline"] if row["auditor"] == "human-corrected"] == [
        "human-corrected.win_rate", "human-corrected.preference_rate"]
    assert any("Angelopoulos et al. 2023" in note for note in report["method_notes"])
    assert not any("no random sample" in note for note in outcome["notes"])  # the 90 labelled pairs are random
    assert (f"win_rate: the judge's prediction correlates with the human label at {np.corrcoef(y, f)[0, 1]:.3f} on "
            "the labelled pairs (`rlaif-audit plan win-rate --correlation`).") in outcome["notes"]
    rows = {(row["estimand"], row["method"]): row for row in outcome["tables"]["estimates"]}
    assert len(rows) == 8 and rows["win_rate", "ai-only"]["effective_human_labels"] is None
    ppi_plus, human_only = rows["win_rate", "ppi++"], rows["win_rate", "human-only"]
    assert ppi_plus["effective_human_labels"] == pytest.approx(90 * (human_only["se"] / ppi_plus["se"]) ** 2)


def test_auditor_skips_when_every_pair_or_too_few_pairs_are_labelled(labelled, tmp_path):
    from rlaif_audit.default_plugins.auditors.human_corrected import ALL_LABELLED

    every = audit_report([labelled["judgments"], "--data", labelled["data"], "--auditors", "human-corrected"],
                         tmp_path / "all")["auditors"]["human-corrected"]
    assert (every["status"], every["reason"]) == ("skipped", ALL_LABELLED)
    few = audit_report([labelled["judgments"], "--data", labelled["data"], "--human", labelled["few"],
                        "--auditors", "human-corrected"], tmp_path / "few")["auditors"]["human-corrected"]
    assert few["status"] == "skipped"
    assert few["reason"] == ("needs at least 30 human-labelled and 30 AI-only judged pairs; found 12 labelled and "
                             "228 AI-only")


def test_labels_that_are_no_random_sample_are_flagged():
    """Labelling the pairs the judge is least sure of (as the review queue does) is no random sample."""
    from rlaif_audit.default_plugins.auditors.human_corrected import sampling_check

    rng = np.random.default_rng(4)
    p_a = rng.beta(2, 2, 600)
    uncertain = np.argsort(np.abs(p_a - 0.5))[:100]
    rest = np.setdiff1d(np.arange(600), uncertain)
    assert "look like no random sample" in sampling_check(p_a[uncertain], p_a[rest])
    random = rng.permutation(600)
    assert sampling_check(p_a[random[:100]], p_a[random[100:]]) is None


def test_a_zero_variance_estimate_is_never_a_zero_width_interval():
    from rlaif_audit.auditing.ppi import MeanEstimate
    from rlaif_audit.auditing.stats import wilson_interval
    from rlaif_audit.default_plugins.auditors.human_corrected import estimate_metric

    at_boundary = estimate_metric(MeanEstimate("human-only", 1.0, 0.0, 40, 0, 0.0))
    assert at_boundary.ci == pytest.approx(wilson_interval(40, 40)) and at_boundary.ci[0] < 1.0
    assert "zero variance: Wilson interval at the boundary" in at_boundary.method
    inside = estimate_metric(MeanEstimate("ppi", 0.4, 0.0, 40, 100, 1.0))
    assert inside.ci is None and "zero variance: no interval" in inside.method
    clipped = estimate_metric(MeanEstimate("ppi++", 0.98, 0.02, 40, 100, 0.5))
    assert clipped.ci == pytest.approx((0.98 - Z95 * 0.02, 1.0))
