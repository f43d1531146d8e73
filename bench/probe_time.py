"""Seconds for one generation's probes with hf-judge: the shipped suites (+ optional human anchors), both orders.

Usage: OMP_NUM_THREADS=2 python bench/probe_time.py [--model smollm2] [--anchor-limit 0] [--out DIR]

Judges every registered probe suite (known-answer, length; with --anchor-limit N also the first N pairs of the
shared hh-rlhf-harmless test split as human anchors) into a fresh judgment file with ``judge_probes`` and prints
JSON: the suites, judgments, model-load and judging seconds, judgments per second and the probe scores. The issue
targets <= 60 s of judging per generation here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the rlaif-audit CLI sets it, before torch is imported
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"


def main() -> None:
    """Time one generation's probes."""
    from rlaif_audit.host import get_plugin_manager, make_evaluator
    from rlaif_audit.judging.probes import anchor_suite, judge_probes, probe_scores, resolve_suites, suite_pairs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="hf-judge model option")
    parser.add_argument("--anchor-limit", type=int, default=0, help="human-anchor pairs to add (0: none)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="human-labeled DATA for the anchors")
    parser.add_argument("--out", default=None, help="folder for the judgment file (default: a temporary one)")
    args = parser.parse_args()

    pm = get_plugin_manager()
    suites = resolve_suites(pm, None)
    labels = []
    if args.anchor_limit:
        anchors, labels = anchor_suite(args.data, limit=args.anchor_limit)
        suites.append(anchors)
    out = Path(args.out or tempfile.mkdtemp(prefix="probe-time-")) / "probes.jsonl"
    started = time.perf_counter()
    evaluator = make_evaluator("hf-judge", {"model": args.model}, pm)
    evaluator.load()  # model, tokenizer and the weights hash of the identity: timed apart from judging
    evaluator.identity_hash()
    loaded = time.perf_counter()
    try:
        judge_probes(pm, evaluator, suites, out, labels=labels)
    finally:
        evaluator.close()
    judged = time.perf_counter()
    n_judgments = 2 * len(suite_pairs(suites))
    print(json.dumps({
        "suites": {suite.name: len(suite.pairs) for suite in suites},
        "judgments": n_judgments,
        "model_load_s": round(loaded - started, 2),
        "judge_s": round(judged - loaded, 2),
        "judgments_per_s": round(n_judgments / (judged - loaded), 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "scores": [score.to_dict() for score in probe_scores(out, suite_pairs(suites)) if score.kind == "all"],
    }, indent=2))


if __name__ == "__main__":
    main()
