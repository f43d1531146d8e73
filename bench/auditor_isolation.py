"""Cost of the auditors' read-only views: freezing the context once, and one view per auditor, on N synthetic pairs.

    python bench/auditor_isolation.py --pairs 100000
"""

from __future__ import annotations

import argparse
import time

from rlaif_audit.auditing.context import build_context
from rlaif_audit.auditing.readonly import context_view, frozen_context
from rlaif_audit.testing import synthetic_frames, synthetic_judgments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000, help="Synthetic pairs in the context.")
    parser.add_argument("--views", type=int, default=20, help="Views to time (one per auditor).")
    args = parser.parse_args()
    pairs, labels = synthetic_frames(args.pairs, 0, n_annotators=2)
    ctx = build_context(synthetic_judgments(pairs, {"noise": 0.5}), pairs, labels, n_bootstrap=0)
    started = time.perf_counter()
    frozen = frozen_context(ctx)
    frozen_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(args.views):
        context_view(frozen)
    view_ms = (time.perf_counter() - started) / args.views * 1000
    print(f"pairs={args.pairs} columns={ctx.pairs.shape[1]} judgments={len(ctx.judgments)} "
          f"freeze_once_s={frozen_s:.3f} per_auditor_view_ms={view_ms:.2f}")


if __name__ == "__main__":
    main()
