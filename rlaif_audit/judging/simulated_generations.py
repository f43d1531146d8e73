"""Synthetic evaluator generations whose biases transfer from one generation to the next (``rlaif-audit simulate``).

Generation g's evaluator is the synthetic judge (``judging.bias_injection.judge_arrays``) with a length preference,
a first-slot bias and a self-preference bonus β_g per bias. Each bias follows β_{g+1} = β_0 + τ·β_g with transfer
coefficient τ (0: every generation keeps β_0, the null of no propagation; 0 < τ < 1: the bias grows towards
β_0/(1 − τ), as when the next evaluator is trained on labels that carry the previous one's bias). Errors transfer
through the per-probe perceived-quality noise e_{g+1} = τ_error·e_g + √(1 − τ_error²)·ε (τ_error = 0: independent
errors, odds ratio 1). The pinned reference is generation 0's judge without the self-preference bonus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rlaif_audit.auditing.probe_set import NO_SIDE, SELF_KIND, GenerationJudgments, ProbeSet
from rlaif_audit.records.preference import CHOICE_A, CHOICE_B

TRANSFER_KEYS = ("length", "position", "self_preference", "error")
BASE_BIAS = {"length": 0.5, "position": 0.3, "self_preference": 0.4}
"""β_0 of each bias: log-odds per unit log-length ratio, first-slot log-odds, own-response log-odds."""
KIND_SHARES = (("arithmetic", 0.5), ("padding_filler", 0.3), (SELF_KIND, 0.2))


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of a simulated chain: generations after gen-0, probe count, transfer coefficients, seed."""

    generations: int = 10
    probes: int = 1000
    transfer: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    base_bias: dict[str, float] = field(default_factory=lambda: dict(BASE_BIAS))
    strength: float = 1.5
    quality_gap: float = 1.0
    padding_gap: float = 0.3
    error_sd: float = 0.5
    noise: float = 0.5


@dataclass
class SimulatedChain:
    """The probes, each generation's judgments, the reference's, and the bias levels that produced them."""

    probes: ProbeSet
    generations: list[GenerationJudgments]
    reference: GenerationJudgments
    levels: dict[str, list[float]]
    len_a: np.ndarray
    len_b: np.ndarray


def parse_transfer(text: str) -> dict[str, float]:
    """``"length=0.5,position=0.0"`` → ``{"length": 0.5, "position": 0.0}``; unknown keys name the valid ones."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in TRANSFER_KEYS or not value:
            raise ValueError(f"transfer {item!r}: expected KEY=NUMBER with KEY one of {', '.join(TRANSFER_KEYS)}")
        out[key] = float(value)
        if key == "error" and not -1 <= out[key] <= 1:
            raise ValueError(f"transfer error={out[key]} must lie in [-1, 1]")
    return out


def bias_levels(config: SimulationConfig) -> dict[str, list[float]]:
    """β_g for g = 0..G of each bias: β_{g+1} = β_0 + τ·β_g."""
    levels: dict[str, list[float]] = {}
    for key, base in config.base_bias.items():
        tau = float(config.transfer.get(key, 0.0))
        values = [base]
        for _ in range(config.generations):
            values.append(base + tau * values[-1])
        levels[key] = values
    return levels


def simulated_probes(config: SimulationConfig, rng: np.random.Generator) -> tuple[ProbeSet, np.ndarray, np.ndarray,
                                                                                 np.ndarray]:
    """Probe kinds, expected and own sides, lengths and true quality gaps (A − B)."""
    n = config.probes
    counts = [int(round(share * n)) for _, share in KIND_SHARES]
    counts[0] += n - sum(counts)
    kind = np.repeat([name for name, _ in KIND_SHARES], counts)
    a_first = rng.random(n) < 0.5
    expected = np.where(kind == SELF_KIND, NO_SIDE, np.where(a_first, CHOICE_A, CHOICE_B))
    own = np.where(kind == SELF_KIND, np.where(a_first, CHOICE_A, CHOICE_B), NO_SIDE)
    concise = rng.integers(150, 400, n)
    padded = (concise * rng.uniform(1.5, 3.0, n)).astype(int)
    similar = (concise * rng.uniform(0.9, 1.1, n)).astype(int)
    longer = np.where(np.char.startswith(kind.astype(str), "padding"), padded, similar)
    len_a = np.where(expected == CHOICE_B, longer, concise)
    len_b = np.where(expected == CHOICE_B, concise, longer)
    size = np.where(np.char.startswith(kind.astype(str), "padding"), config.padding_gap, config.quality_gap)
    gap = np.where(expected == CHOICE_A, size, np.where(expected == CHOICE_B, -size, 0.0))
    ids = np.array([f"sim-{config.seed}-{i:06d}" for i in range(n)], dtype=object)
    return ProbeSet(ids, kind, expected.astype(np.int64), own.astype(np.int64)), len_a, len_b, gap


def judge_generation(probes: ProbeSet, len_a: np.ndarray, len_b: np.ndarray, gap: np.ndarray, error: np.ndarray,
                     biases: dict[str, float], config: SimulationConfig, judge_seed: int,
                     label: str) -> GenerationJudgments:
    """Both orders of every probe judged by the synthetic judge with these bias levels."""
    from rlaif_audit.judging.bias_injection import judge_arrays

    own_sign = np.where(probes.own == CHOICE_A, 1.0, np.where(probes.own == CHOICE_B, -1.0, 0.0))
    q_a = (gap + error) / 2 + biases.get("self_preference", 0.0) / config.strength * own_sign / 2
    q_b = -q_a
    ids = np.concatenate([probes.pair_id, probes.pair_id])
    orders = np.repeat(np.array(["ab", "ba"]), probes.n)
    judge = {"strength": config.strength, "length_pref": biases.get("length", 0.0), "list_pref": 0.0,
             "position_bias": biases.get("position", 0.0), "pair_noise": 0.0, "noise": config.noise,
             "temperature": 1.0, "tie_band": 0.0, "fail_rate": 0.0, "seed": judge_seed}
    zeros = np.zeros(2 * probes.n, dtype=bool)
    p_first, _, _, _ = judge_arrays(ids, orders, np.concatenate([q_a, q_b]), np.concatenate([q_b, q_a]),
                                    np.concatenate([len_a, len_b]), np.concatenate([len_b, len_a]), zeros, zeros,
                                    judge)
    ones = np.ones(probes.n, dtype=bool)
    return GenerationJudgments(p_first[: probes.n], p_first[probes.n :], ones, ones, label)


def simulate_chain(config: SimulationConfig) -> SimulatedChain:
    """Generations 0..G of evaluators whose biases transfer with ``config.transfer``, and the pinned reference."""
    rng = np.random.default_rng([config.seed, 7])
    probes, len_a, len_b, gap = simulated_probes(config, rng)
    levels = bias_levels(config)
    tau_error = float(config.transfer.get("error", 0.0))
    error = rng.normal(0.0, config.error_sd, probes.n)
    generations = []
    for g in range(config.generations + 1):
        if g:
            error = tau_error * error + math.sqrt(1 - tau_error**2) * rng.normal(0.0, config.error_sd, probes.n)
        biases = {key: values[g] for key, values in levels.items()}
        generations.append(judge_generation(probes, len_a, len_b, gap, error, biases, config,
                                            config.seed * 1000 + g, f"gen-{g}"))
    reference_biases = {key: levels[key][0] for key in levels if key != "self_preference"}
    reference = judge_generation(probes, len_a, len_b, gap, rng.normal(0.0, config.error_sd, probes.n),
                                 reference_biases, config, config.seed * 1000 + 999, "reference")
    return SimulatedChain(probes, generations, reference, levels, len_a, len_b)


__all__ = ["SimulationConfig", "SimulatedChain", "simulate_chain", "parse_transfer", "bias_levels"]
