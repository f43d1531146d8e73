"""Known-truth validation: 95% CI coverage of the headline metrics and the false-flag rate after FDR.

Usage: python bench/coverage.py [--seeds 400] [--n 400 60] [--n-bootstrap 1000] [--truth-pairs 200000]
                                [--write-docs]

A synthetic judge with injected biases (rlaif_audit.testing) judges synthetic pairs whose humans follow the true
quality; every metric's truth is its value on ``--truth-pairs`` pairs from the same generator (Monte Carlo error
under 5% of the n = 400 standard error). For each scenario and n, ``--seeds`` independent audits count how often the
metric's 95% CI holds the truth. Scenario ``unbiased``: no position, length or list bias, and the human noise solved
so that the population recalibration temperature is exactly 1 — every bias test's null holds (and is the truth
used), so any flag is false. Scenario ``calibrated``: no per-order noise, P(A) equals the humans' P(A), so the
population ECE is exactly 0 (the issue's case; its verdicts are slot-symmetric pair by pair, so the position
shares are degenerate and marked). Scenario ``biased``: position, length, list biases and an over-confident judge; the flag rates are the tests' power.
Flags are counted after the report-level Benjamini–Hochberg adjustment (rlaif_audit.auditing.flags).
``--write-docs`` replaces the table between the coverage markers in docs/audit.md. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

AUDITORS = ("agreement", "position", "calibration", "length")
METRICS = (("agreement", "accuracy_without_ties"), ("agreement", "cohen_kappa"), ("position", "consistent"),
           ("position", "first_slot_preference"), ("position", "conflict_rate"), ("position", "preference_fairness"),
           ("calibration", "ece_debiased"), ("calibration", "brier"), ("calibration", "log_loss"),
           ("calibration", "temperature"), ("length", "longer_excess"), ("length", "lists_excess"),
           ("length", "length_coef"), ("calibration", "ece_equal_width"))
BASE_JUDGE = {"strength": 1.0, "noise": 0.5, "pair_noise": 0.0}
NULLS = {"position.first_slot_preference": 0.5, "position.preference_fairness": 0.0, "length.longer_excess": 0.0,
         "length.lists_excess": 0.0, "length.length_coef": 0.0, "calibration.temperature": 1.0}
"""The bias tests' nulls: the exact truth of an unbiased judge (slot symmetry; length and lists independent of
quality; the human noise solved for temperature 1), used instead of the Monte Carlo value."""
SCENARIOS: dict[str, dict[str, Any]] = {
    "unbiased": {"judge": {}, "human_noise": None, "exact": NULLS},  # None: solved for population temperature 1
    "calibrated": {"judge": {"noise": 0.0}, "human_noise": 1.0,  # P(A) = σ(Δq) = the humans' P(A), in every bin
                   "exact": {**NULLS, "calibration.ece_debiased": 0.0, "calibration.ece_equal_width": 0.0}},
    "biased": {"judge": {"position_bias": 0.3, "length_pref": 0.3, "list_pref": 0.4, "temperature": 0.7},
               "human_noise": 1.0, "exact": {}},
}
LIST_RATE = 0.5
DOCS = Path(__file__).resolve().parents[1] / "docs" / "audit.md"
START, END = "<!-- coverage-table:start -->", "<!-- coverage-table:end -->"


def sample(n: int, seed: int, judge: dict[str, Any], human_noise: float) -> tuple[Any, Any, Any]:
    """Pairs, labels (one annotator) and both-order judgments of one synthetic audit."""
    from rlaif_audit.testing import synthetic_frames, synthetic_judgments

    pairs, labels = synthetic_frames(n, seed, human_noise=human_noise, list_rate=LIST_RATE, with_context=False)
    judgments = synthetic_judgments(pairs, {**BASE_JUDGE, **judge, "seed": seed})
    return pairs, labels, judgments


def solve_human_noise(n: int, judge: dict[str, Any]) -> float:
    """The human noise h at which the judge's population recalibration temperature is 1 (bisection, exact targets).

    Humans prefer A with probability σ(Δq/h); the fit uses that probability as a soft target, so no label noise
    enters the solution.
    """
    import numpy as np

    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.auditing.estimators import fit_inverse_temperature, logit, sigmoid

    pairs, labels, judgments = sample(n, 10_000_019, judge, 1.0)
    ctx = build_context(judgments, pairs, labels, n_bootstrap=0)
    p_a = ctx.pairs["p_a"].to_numpy(float)
    gap = (pairs["quality_a"] - pairs["quality_b"]).to_numpy(float)
    keep = np.isfinite(p_a)
    low, high = 0.3, 5.0
    for _ in range(40):
        middle = (low + high) / 2
        theta, _ = fit_inverse_temperature(logit(p_a[keep]), sigmoid(gap[keep] / middle))
        low, high = (middle, high) if theta > 1 else (low, middle)  # θ falls as humans get noisier
    return (low + high) / 2


def audit(n: int, seed: int, judge: dict[str, Any], human_noise: float, n_bootstrap: int, pm: Any) -> Any:
    """The auditors' outcomes of one synthetic audit, with the report-level FDR adjustment applied."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.auditing.flags import adjust_report
    from rlaif_audit.auditing.runner import run_auditors

    pairs, labels, judgments = sample(n, seed, judge, human_noise)
    ctx = build_context(judgments, pairs, labels, seed=seed, n_bootstrap=n_bootstrap)
    outcomes = run_auditors(ctx, pm, list(AUDITORS))
    adjust_report(outcomes)
    return outcomes


def truths(outcomes: Any) -> dict[str, float | None]:
    """``auditor.metric`` → value on the large sample."""
    return {f"{a}.{m}": (outcomes[a].metrics[m].value if m in outcomes[a].metrics else None) for a, m in METRICS}


def tally(outcomes: Any, truth: dict[str, float | None], counts: dict[str, dict[str, float]]) -> dict[str, int]:
    """Add one audit's coverage, marks, widths and flags to ``counts``; returns its flag counts (BH and raw)."""
    for auditor, name in METRICS:
        key, metric = f"{auditor}.{name}", outcomes[auditor].metrics.get(name)
        entry = counts.setdefault(key, {"runs": 0, "with_ci": 0, "covered": 0, "marked": 0, "width": 0.0,
                                        "tested": 0, "flagged": 0})
        entry["runs"] += 1
        if metric is None or metric.ci is None or truth[key] is None:
            continue
        low, high = metric.ci
        if low is None or high is None:
            continue
        entry["with_ci"] += 1
        entry["covered"] += int(low <= truth[key] <= high)
        entry["marked"] += int(bool(metric.note))
        entry["width"] += high - low if math.isfinite(high - low) else 0.0
    flagged = {"bh": 0, "raw": 0}
    for auditor in AUDITORS:
        for row in outcomes[auditor].tables.get("bias_tests") or []:
            entry = counts[f"{auditor}.{row['metric']}"]
            if row["reason"] is None:
                entry["tested"] += 1
                entry["flagged"] += int(bool(row["flagged"]))
                flagged["bh"] += int(bool(row["flagged"]))
                flagged["raw"] += int(row["p_value"] < 0.05)
    return flagged


def run(seeds: int, sizes: list[int], n_bootstrap: int, truth_pairs: int, first_seed: int = 0) -> dict[str, Any]:
    """Coverage and flag rates for each scenario and n."""
    from rlaif_audit.host import get_plugin_manager

    pm = get_plugin_manager()
    results: dict[str, Any] = {"seeds": seeds, "n_bootstrap": n_bootstrap, "truth_pairs": truth_pairs,
                               "scenarios": {}}
    for scenario, spec in SCENARIOS.items():
        started = time.perf_counter()
        human_noise = spec["human_noise"] or solve_human_noise(truth_pairs, spec["judge"])
        truth = {**truths(audit(truth_pairs, 99_999_989, spec["judge"], human_noise, 20, pm)), **spec["exact"]}
        by_n: dict[str, Any] = {}
        for n in sizes:
            counts: dict[str, dict[str, float]] = {}
            any_bh = any_raw = 0
            for seed in range(first_seed, first_seed + seeds):
                flagged = tally(audit(n, seed, spec["judge"], human_noise, n_bootstrap, pm), truth, counts)
                any_bh += int(flagged["bh"] > 0)
                any_raw += int(flagged["raw"] > 0)
            by_n[str(n)] = {"metrics": counts, "audits_with_a_flag_bh": any_bh / seeds,
                            "audits_with_a_flag_raw": any_raw / seeds}
        results["scenarios"][scenario] = {"judge": {**BASE_JUDGE, **spec["judge"]}, "human_noise": human_noise,
                                          "truth": truth, "by_n": by_n,
                                          "seconds": round(time.perf_counter() - started, 1)}
    return results


def rate(part: float, whole: float) -> str:
    return "—" if not whole else f"{part / whole:.3f}"


def markdown_table(results: dict[str, Any]) -> str:
    """The coverage table and the flag-rate table, as Markdown."""
    lines = [f"Generated by `python bench/coverage.py --seeds {results['seeds']} --n-bootstrap "
             f"{results['n_bootstrap']} --truth-pairs {results['truth_pairs']} --write-docs`: "
             f"{results['seeds']} audits per scenario and n; truth = the metric on {results['truth_pairs']:,} pairs.",
             "", "| metric | scenario | truth | n | coverage | marked | mean width | flag rate (BH) |",
             "|---|---|---|---|---|---|---|---|"]
    for auditor, name in METRICS:
        key = f"{auditor}.{name}"
        for scenario, data in results["scenarios"].items():
            truth = data["truth"][key]
            for n, by_n in data["by_n"].items():
                entry = by_n["metrics"].get(key)
                if entry is None:
                    continue
                coverage = rate(entry["covered"], entry["with_ci"]) if entry["with_ci"] else "no interval"
                width = f"{entry['width'] / entry['with_ci']:.3f}" if entry["with_ci"] else "—"
                flags = rate(entry["flagged"], entry["tested"]) if entry["tested"] else ""
                shown = "—" if truth is None else f"{truth:.4f}"
                lines.append(f"| {key} | {scenario} | {shown} | {n} | {coverage} | "
                             f"{rate(entry['marked'], entry['with_ci'])} | {width} | {flags} |")
    lines += ["", "| scenario | n | audits with any flag, BH-adjusted | audits with any flag, raw p < 0.05 |",
              "|---|---|---|---|"]
    for scenario, data in results["scenarios"].items():
        for n, by_n in data["by_n"].items():
            lines.append(f"| {scenario} | {n} | {by_n['audits_with_a_flag_bh']:.3f} | "
                         f"{by_n['audits_with_a_flag_raw']:.3f} |")
    lines += [""] + [f"- `{scenario}`: judge {json.dumps(data['judge'])}, human noise {data['human_noise']:.4f}"
                     for scenario, data in results["scenarios"].items()]
    lines += ["", "`marked`: share of the intervals carrying a ci_note (n<30, degenerate); `flag rate`: share of the "
              "tested audits whose bias test was flagged after the report-level Benjamini–Hochberg adjustment (false "
              "flags for `unbiased` and `calibrated`, power for `biased`)."]
    return "\n".join(lines)


def write_docs(table: str, path: Path = DOCS) -> None:
    """Replace the text between the coverage markers of docs/audit.md."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--n", type=int, nargs="+", default=[400, 60])
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--truth-pairs", type=int, default=200_000)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.seeds, args.n, args.n_bootstrap, args.truth_pairs)
    table = markdown_table(results)
    if args.write_docs:
        write_docs(table)
    json.dump(results, sys.stdout, indent=1)
    print("\n" + table)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
