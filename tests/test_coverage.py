"""The known-truth validation of bench/coverage.py, loosely and with few seeds (slow tier)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def test_intervals_cover_and_an_unbiased_judge_is_rarely_flagged() -> None:
    import coverage as bench  # bench/coverage.py

    seeds = 40
    results = bench.run(seeds=seeds, sizes=[400], n_bootstrap=300, truth_pairs=50_000, first_seed=1000)
    for scenario, data in results["scenarios"].items():
        for key, entry in data["by_n"]["400"]["metrics"].items():
            if entry["with_ci"]:
                # nominal 0.95; 40 seeds: below 0.80 happens with probability < 0.001 at the nominal rate
                assert entry["covered"] / entry["with_ci"] >= 0.80, (scenario, key, entry)
    for scenario in ("unbiased", "calibrated"):
        assert results["scenarios"][scenario]["by_n"]["400"]["audits_with_a_flag_bh"] <= 0.15, scenario
    biased = results["scenarios"]["biased"]["by_n"]["400"]["metrics"]
    assert biased["position.first_slot_preference"]["flagged"] >= 0.8 * biased["position.first_slot_preference"]["tested"]
    assert results["scenarios"]["calibrated"]["truth"]["calibration.ece_debiased"] == 0.0
