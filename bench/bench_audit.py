"""Time build_context and the four evaluator auditors on 1,000,000 synthetic judgments; prints JSON.

Usage: python bench/bench_audit.py [--pairs 500000] [--n-bootstrap 2000] [--seed 0]
Target: build_context + agreement, position, calibration and length under 30 s (2 cores), B = 2000.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

AUDITORS = ("agreement", "position", "calibration", "length")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_inputs(n_pairs: int, seed: int) -> tuple[Any, Any, Any, float]:
    """Synthetic pairs, labels (3 annotators) and both-order judgments, built vectorised; and the seconds it took."""
    from rlaif_audit.testing import synthetic_frames, synthetic_judgments

    started = time.perf_counter()
    pairs, labels = synthetic_frames(n_pairs, seed, n_annotators=3, human_length_pref=0.2, with_context=False)
    judge = {"position_bias": 0.4, "length_pref": 0.3, "noise": 0.5, "pair_noise": 0.5, "temperature": 0.8}
    judgments = synthetic_judgments(pairs, judge, evaluator_id="bench")
    return pairs, labels, judgments, time.perf_counter() - started


def run(n_pairs: int, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Build the inputs, then time the context and each auditor."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.host import auditors, get_plugin_manager

    pairs, labels, judgments, make_s = make_inputs(n_pairs, seed)
    rss_inputs = peak_rss_mib()
    registry = auditors(get_plugin_manager(load_entry_points=False))
    started = time.perf_counter()
    ctx = build_context(judgments, pairs, labels, seed=seed, n_bootstrap=n_bootstrap,
                        options={"batch_calibration": True})
    context_s = time.perf_counter() - started
    per_auditor: dict[str, dict[str, Any]] = {}
    for name in AUDITORS:
        began = time.perf_counter()
        result = registry.get(name)().audit(ctx)
        per_auditor[name] = {"seconds": round(time.perf_counter() - began, 3), "status": result.status,
                             "n_metrics": len(result.metrics)}
    total_s = time.perf_counter() - started
    return {"n_pairs": n_pairs, "n_judgments": len(judgments), "n_labels": len(labels), "n_bootstrap": n_bootstrap,
            "make_inputs_s": round(make_s, 3), "build_context_s": round(context_s, 3), "auditors": per_auditor,
            "total_s": round(total_s, 3), "target_s": 30, "met": total_s < 30,
            "peak_rss_mib": round(peak_rss_mib(), 1), "rss_after_inputs_mib": round(rss_inputs, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500_000, help="pairs (judgments = 2 × pairs)")
    parser.add_argument("--n-bootstrap", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and bootstrap")
    args = parser.parse_args(argv)
    json.dump(run(args.pairs, args.n_bootstrap, args.seed), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
