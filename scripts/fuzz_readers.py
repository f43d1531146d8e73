"""Fuzz every reader with seeded hostile files: print, per reader, cases tried, data, InputError and crashes.

    python scripts/fuzz_readers.py --cases 3000 [--only judgment-file,prompt-file] [--seed 0] [--crashes DIR]

A crash is any exception other than InputError; the exit status is 1 when any reader crashed. Cases come from
:mod:`rlaif_audit.data.fuzz` and :mod:`rlaif_audit.data.fuzz_targets` (the same generators as
tests/test_fuzz_readers.py), seeded per reader and case.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.setrecursionlimit(1000)  # the interpreter's default: the readers must hold under it


def main() -> int:
    """Run the fuzzing and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="cases per reader")
    parser.add_argument("--seed", type=int, default=0, help="seed of the case generator")
    parser.add_argument("--only", default="", help="comma-separated reader names (default: all)")
    parser.add_argument("--crashes", default="", help="folder to save each crashing case in")
    args = parser.parse_args()
    from rlaif_audit.data.fuzz import hostile_case, outcome
    from rlaif_audit.data.fuzz_targets import targets

    chosen = targets()
    if args.only:
        chosen = {name: chosen[name] for name in args.only.split(",")}
    print(f"{'reader':28} {'cases':>6} {'data':>6} {'InputError':>10} {'crashes':>7}  seconds")
    total_crashes = 0
    for name, target in chosen.items():
        counts: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        for index in range(args.cases):
            rng = random.Random(f"{args.seed}:{name}:{index}")
            case = hostile_case(target, rng)
            folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
            try:
                result, exc = outcome(target, folder, case)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            counts[result] += 1
            if exc is not None:
                kinds[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                if args.crashes:
                    saved = Path(args.crashes) / name
                    saved.mkdir(parents=True, exist_ok=True)
                    (saved / f"case-{index}{Path(target.file_name).suffix}").write_bytes(case)
                    (saved / f"case-{index}.txt").write_text("".join(traceback.format_exception(exc)))
        total_crashes += counts["crash"]
        print(f"{name:28} {args.cases:>6} {counts['data']:>6} {counts['InputError']:>10} {counts['crash']:>7}  "
              f"{time.perf_counter() - started:7.1f}")
        for kind, count in kinds.most_common(5):
            print(f"    {count:5} × {kind}")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
