"""Coverage and mean width of the 95% CIs of PPI++, PPI, human-only and AI-only win rates with a biased judge.

Usage: python bench/ppi_coverage.py [--seeds 1000] [--seed 0] [--json]
Each simulated audit: n human-labelled pairs and N AI-only pairs; a human prefers A with probability σ(2z), the
judge reports P(A) = σ(1.5·z + bias + noise·ε) for a quality gap z ~ N(0.3, 1) (rlaif_audit.testing.biased_judge_sample);
the truth is the population win rate E[σ(2z)]. Prints a Markdown table (docs/audit.md holds its output).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

SCENARIOS = ((200, 2000, 0.8, 0.0), (60, 2000, 0.8, 0.0), (200, 2000, 0.0, 0.0), (400, 400, 0.8, 0.0),
             (200, 2000, 0.8, 4.0))
"""(n labelled, N AI-only, judge bias, judge noise) of each row; the last judge is noisy (PPI++ tunes λ down)."""


def measure(n_seeds: int, n: int, n_ai: int, bias: float, noise: float, seed: int) -> list[dict[str, Any]]:
    """Coverage of the truth and mean CI width of each method over ``n_seeds`` simulated audits."""
    from rlaif_audit.auditing.ppi import mean_of, ppi_mean, tuned_lambda
    from rlaif_audit.auditing.stats import Z95
    from rlaif_audit.testing import biased_judge_sample

    sample = biased_judge_sample(n_seeds, n, n_ai, seed, bias=bias, noise=noise)
    y, f, f_u, truth = sample["y"], sample["f"], sample["f_unlabeled"], sample["truth"]
    estimates = {
        "PPI++": ppi_mean(y, f, f_u, tuned_lambda(y, f, f_u)),
        "PPI": ppi_mean(y, f, f_u, np.ones(n_seeds)),
        "human-only": mean_of(y),
        "AI-only": mean_of(np.concatenate([f, f_u], axis=1)),
    }
    return [{"n": n, "N": n_ai, "bias": bias, "noise": noise, "method": name,
             "coverage": float(np.mean(np.abs(value - truth) <= Z95 * se)),
             "mean_width": float(np.mean(2 * Z95 * se)), "mean_error": float(np.mean(value - truth))}
            for name, (value, se) in estimates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="Simulated audits per scenario.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the simulation.")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a Markdown table.")
    args = parser.parse_args()
    rows = [row for k, (n, n_ai, bias, noise) in enumerate(SCENARIOS)
            for row in measure(args.seeds, n, n_ai, bias, noise, args.seed + k)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"| n labelled | N AI-only | judge bias | judge noise | method | coverage ({args.seeds} seeds) | mean CI width | "
          "mean error |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['n']} | {row['N']} | {row['bias']} | {row['noise']} | {row['method']} | {row['coverage']:.3f} | "
              f"{row['mean_width']:.4f} | {row['mean_error']:+.4f} |")


if __name__ == "__main__":
    main()
