"""Wall time of ``rlaif-audit --help`` (every plugin registered) and the slowest imports on its path; prints JSON."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time

CODE = "from rlaif_audit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"


def wall_seconds(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", CODE], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def slowest_imports(top: int) -> list[dict[str, object]]:
    """Top-level packages by cumulative import time (python -X importtime)."""
    command = [sys.executable, "-X", "importtime", "-c", CODE]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) == 1:  # depth 0: imported directly by the CLI's code path
            rows.append({"module": match.group(4), "cumulative_ms": int(match.group(2)) / 1000})
    return sorted(rows, key=lambda row: -row["cumulative_ms"])[:top]


def main() -> None:
    warmup = wall_seconds(3)  # fills the OS file cache
    times = wall_seconds(7)
    bare = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    figures = {
        "help_wall_s_median": round(statistics.median(times), 3),
        "help_wall_s_min": round(min(times), 3),
        "python_startup_s_median": round(statistics.median(bare), 3),
        "warmup_runs_discarded": len(warmup),
        "slowest_imports": slowest_imports(8),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
