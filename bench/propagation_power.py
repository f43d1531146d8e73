"""Power and false-alarm rate of the propagation verdicts on simulated generations; writes a table into docs/audit.md.

Usage: python bench/propagation_power.py [--seeds 200] [--n-bootstrap 500] [--write-docs]
Each cell simulates ``--seeds`` chains (rlaif_audit.judging.simulated_generations: β_{g+1} = β_0 + τ·β_g for the
length, position and self-preference biases at once) and runs the same analysis as the propagation auditor. Power is
the share of seeds whose verdict on that bias is "amplifying"; at τ = 0 the "any" column is the false-alarm rate
(any of the five biases called amplifying). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

BIASES = {"length": "padded_wins_rate", "position": "position_consistency", "self_preference": "self_preference_excess"}
DESIGNS = ((3, 300), (10, 1000))
TRANSFERS = (0.0, 0.25, 0.5, 0.8)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "audit.md"
BEGIN, END = "<!-- propagation-power:begin -->", "<!-- propagation-power:end -->"


def cell(generations: int, probes: int, tau: float, seeds: int, n_bootstrap: int) -> dict[str, Any]:
    """Share of seeds calling each bias amplifying, and any bias amplifying, at one design and transfer."""
    from rlaif_audit.auditing.propagation import analyse
    from rlaif_audit.judging.simulated_generations import SimulationConfig, simulate_chain

    transfer = {key: tau for key in BIASES} if tau else {}
    calls: dict[str, list[bool]] = {}
    started = time.perf_counter()
    for seed in range(seeds):
        chain = simulate_chain(SimulationConfig(generations=generations, probes=probes, transfer=transfer, seed=seed))
        verdicts = analyse(chain.probes, chain.generations, reference=chain.reference, n_bootstrap=n_bootstrap,
                           seed=seed).verdicts()
        for key, measure in BIASES.items():
            calls.setdefault(key, []).append(verdicts.get(measure) == "amplifying")
        calls.setdefault("any", []).append("amplifying" in verdicts.values())
    row: dict[str, Any] = {"generations": generations, "probes": probes, "transfer": tau, "seeds": seeds}
    row.update({key: float(np.mean(values)) for key, values in calls.items()})
    row["seconds_per_chain"] = round((time.perf_counter() - started) / seeds, 3)
    return row


def markdown(rows: list[dict[str, Any]], seeds: int, n_bootstrap: int) -> str:
    """The docs table."""
    lines = [f"Measured by `python bench/propagation_power.py --seeds {seeds} --n-bootstrap {n_bootstrap} "
             "--write-docs` (share of seeds with the verdict \"amplifying\"; τ is injected into length, position and "
             "self-preference at once; at τ = 0 every number is a false alarm).", "",
             "| generations after gen-0 | probes | τ | length | position | self-preference | any bias |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['generations']} | {row['probes']} | {row['transfer']} | {row['length']:.3f} | "
                     f"{row['position']:.3f} | {row['self_preference']:.3f} | {row['any']:.3f} |")
    return "\n".join(lines)


def write_docs(table: str) -> None:
    """Replace the text between the markers in docs/audit.md."""
    text = DOCS.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    DOCS.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--n-bootstrap", type=int, default=500)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = [cell(g, n, tau, args.seeds, args.n_bootstrap) for g, n in DESIGNS for tau in TRANSFERS]
    print(json.dumps(rows, indent=1))
    if args.write_docs:
        write_docs(markdown(rows, args.seeds, args.n_bootstrap))


if __name__ == "__main__":
    main()
