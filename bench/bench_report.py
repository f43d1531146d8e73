"""Time the report side of `rlaif-audit audit` on synthetic judgments with generators; prints JSON.

Measures, on N pairs judged in both orders (4 generators against one baseline): build_report (generator win
rates, headline, review queue), write_report (json, markdown, html, review_queue.jsonl) and the sizes written;
and read_alpaca_eval + win rates on an AlpacaEval-shaped annotations file of M annotations.

Usage: python bench/bench_report.py [--pairs 200000] [--annotations 20000] [--n-bootstrap 200]
Target: build_report + write_report under 5 s for 200,000 pairs (2 cores); importing and scoring 20,000
AlpacaEval annotations under 5 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GENERATORS = ("model-a", "model-b", "model-c", "model-d")


def make_context(n_pairs: int, n_bootstrap: int) -> tuple[Any, list[Any], float]:
    """A context with generator metadata, and the PreferencePair objects behind it."""
    import numpy as np

    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.testing import synthetic_frames, synthetic_judgments
    from rlaif_audit.records.types import PreferencePair

    started = time.perf_counter()
    pairs_df, labels = synthetic_frames(n_pairs, 0, with_context=True)
    judgments = synthetic_judgments(pairs_df, {"position_bias": 0.4, "noise": 0.5}, evaluator_id="bench")
    models = np.array(GENERATORS)[np.arange(n_pairs) % len(GENERATORS)]
    pairs = [PreferencePair(pid, ctx, a, b, {"generator_a": "baseline", "generator_b": model})
             for pid, ctx, a, b, model in zip(pairs_df["pair_id"], pairs_df["context"], pairs_df["a"], pairs_df["b"],
                                              models, strict=True)]
    ctx = build_context(judgments, pairs, labels, seed=0, n_bootstrap=n_bootstrap)
    return ctx, pairs, time.perf_counter() - started


def time_report(n_pairs: int, n_bootstrap: int) -> dict[str, Any]:
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import build_report, run_auditors, write_report

    ctx, pairs, setup_s = make_context(n_pairs, n_bootstrap)
    pm = get_plugin_manager()
    started = time.perf_counter()
    results = run_auditors(ctx, pm, ["agreement", "position", "calibration", "length"])
    auditors_s = time.perf_counter() - started
    started = time.perf_counter()
    report = build_report(ctx, results, pairs=pairs, config={"bench": n_pairs}, data_source="synthetic")
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        written = write_report(report, folder, pm)
        write_s = time.perf_counter() - started
        sizes = {name: Path(path).stat().st_size for name, path in written.items()}
    rates = {row["generator"]: round(row["win_rate"], 3) for row in report["generators"]["head_to_head"]}
    return {"pairs": n_pairs, "setup_s": round(setup_s, 3), "auditors_s": round(auditors_s, 3),
            "build_report_s": round(build_s, 3), "write_report_s": round(write_s, 3),
            "report_side_s": round(build_s + write_s, 3), "bytes": sizes, "win_rates": rates,
            "report_errors": report["report_errors"]}


def time_alpaca(n_annotations: int) -> dict[str, Any]:
    import random

    from rlaif_audit.auditing.head_to_head import generator_win_rates
    from rlaif_audit.default_plugins.importers.alpaca_eval import read_alpaca_eval

    rng = random.Random(0)
    records = [{"instruction": f"instruction {i}", "output_1": "baseline " * rng.randint(5, 200),
                "generator_1": "gpt4_turbo", "output_2": f"model {i} " * rng.randint(5, 200), "generator_2": "model",
                "annotator": "weighted_alpaca_eval_gpt4_turbo", "preference": 1 + rng.random(),
                "raw_completion": {"logprobs": [rng.random()]}, "time_per_example": 1.0}
               for i in range(n_annotations)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "annotations.json"
        path.write_text(json.dumps(records, indent=2))
        started = time.perf_counter()
        imported = read_alpaca_eval(path)
        generators = {p.id: (p.metadata["generator_a"], p.metadata["generator_b"]) for p in imported.pairs}
        (row,) = generator_win_rates(imported.judgments, generators, "alpaca_eval")["head_to_head"]
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    expected = 100 * sum(r["preference"] - 1 for r in records) / n_annotations
    return {"annotations": n_annotations, "file_mib": round(size / 2**20, 1), "import_and_score_s": round(seconds, 3),
            "win_rate": row["win_rate"], "matches_direct_mean": abs(row["win_rate"] - expected) < 1e-9}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--annotations", type=int, default=20_000)
    parser.add_argument("--n-bootstrap", type=int, default=200)
    args = parser.parse_args(argv)
    out = {"report": time_report(args.pairs, args.n_bootstrap), "alpaca_eval": time_alpaca(args.annotations),
           "python": sys.version.split()[0]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
