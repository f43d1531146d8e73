"""How much the tie rule moves a verdict-only judge's agreement: MT-Bench's games rule vs averaging the verdicts.

A synthetic judge with a first-slot bias that says "tie" when |P(first) − ½| ≤ its tie band is judged in both
orders; its probabilities are dropped (a verdict-only judge, like FastChat's g1_winner/g2_winner). The audit's
agreement auditor (the default rule: any disagreement between the orders is a tie) is compared with the average of
the verdicts' P(first) (1, ½, 0), which calls "A, then tie" 0.75, a win.

    PYTHONPATH=$PWD python bench/ties_verdict_only.py [--pairs 2000] [--seeds 5]
"""

from __future__ import annotations

import argparse

import numpy as np


def one_run(n_pairs: int, seed: int, position_bias: float, tie_band: float) -> tuple[float, float, float]:
    """(share of pairs with a tie in exactly one order, accuracy_without_ties by the rule, by averaging)."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.default_plugins.auditors.agreement import AgreementAuditor
    from rlaif_audit.records.preference import CHOICE_TIE, P_FIRST_OF_VERDICT, choice_codes, position_debiased
    from rlaif_audit.testing import synthetic_frames, synthetic_judgments

    pairs, labels = synthetic_frames(n_pairs, seed)
    judgments = synthetic_judgments(pairs, {"position_bias": position_bias, "noise": 0.5, "tie_band": tie_band,
                                            "seed": seed})
    judgments["p_first"] = None  # verdicts only
    ctx = build_context(judgments, pairs, labels, n_bootstrap=10)
    rule = AgreementAuditor().audit(ctx).metrics["accuracy_without_ties"].value
    wide = judgments.pivot(index="pair_id", columns="order", values="verdict").reindex(ctx.pairs["pair_id"])
    averaged = position_debiased(wide["ab"].map(P_FIRST_OF_VERDICT).to_numpy(float),
                                 wide["ba"].map(P_FIRST_OF_VERDICT).to_numpy(float))
    judge, human = choice_codes(averaged), choice_codes(ctx.pairs["human_p_a"].to_numpy(float))
    decisive = (judge >= 0) & (human >= 0) & (judge != CHOICE_TIE) & (human != CHOICE_TIE)
    partial = float(((wide["ab"] == "tie") != (wide["ba"] == "tie")).mean())
    return partial, float(rule), float(np.mean(judge[decisive] == human[decisive]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print("position_bias tie_band partial_tie_share acc_without_ties_rule acc_without_ties_averaged difference")
    for position_bias, tie_band in ((0.0, 0.1), (0.8, 0.1), (0.8, 0.2), (1.5, 0.2)):
        runs = np.array([one_run(args.pairs, seed, position_bias, tie_band) for seed in range(args.seeds)])
        partial, rule, averaged = runs.mean(axis=0)
        print(f"{position_bias:13.1f} {tie_band:8.2f} {partial:17.3f} {rule:21.3f} {averaged:25.3f} "
              f"{rule - averaged:+10.3f}")


if __name__ == "__main__":
    main()
