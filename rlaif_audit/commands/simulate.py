"""`rlaif-audit simulate`: synthetic evaluator generations with known bias transfer, through the propagation auditor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rlaif_audit import hookimpl

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.auditing.probe_set import GenerationJudgments
    from rlaif_audit.judging.simulated_generations import SimulatedChain

SIMULATED_FOLDER = "simulated"
EVALUATOR = "synthetic-generation"


def response_text(index: int, side: str, length: int) -> str:
    """A placeholder response of exactly ``length`` characters (only its length reaches the synthetic judge)."""
    head = f"Simulated probe {index}, response {side}. "
    return (head + "x" * max(0, length - len(head)))[: max(length, 1)]


def probe_rows(chain: SimulatedChain) -> list[dict[str, Any]]:
    """The simulated probes as a pairs file (``--data`` of ``rlaif-audit propagation``)."""
    from rlaif_audit.records.preference import CHOICE_NAMES

    rows = []
    for i, pair_id in enumerate(chain.probes.pair_id):
        metadata: dict[str, Any] = {"suite": "simulated", "suite_version": "1", "probe_kind": str(chain.probes.kind[i])}
        for key, code in (("expected", chain.probes.expected[i]), ("own", chain.probes.own[i])):
            if code >= 0:
                metadata[key] = CHOICE_NAMES[int(code)]
        rows.append({"id": str(pair_id), "context": [{"role": "user", "content": f"Simulated probe {i}"}],
                     "a": response_text(i, "A", int(chain.len_a[i])), "b": response_text(i, "B", int(chain.len_b[i])),
                     "metadata": metadata})
    return rows


def judgment_rows(pair_ids: Any, judged: GenerationJudgments) -> list[dict[str, Any]]:
    """One generation's judgments as rlaif-audit judgment lines, both orders."""
    from rlaif_audit.records.preference import verdict_from_p

    rows = []
    for order, p_first in (("ab", judged.p_first_ab), ("ba", judged.p_first_ba)):
        for pair_id, p in zip(pair_ids, p_first):
            rows.append({"pair_id": str(pair_id), "order": order, "p_first": float(p), "verdict": verdict_from_p(float(p)),
                         "parse_status": "ok", "raw": None, "latency_s": 0.0, "evaluator": EVALUATOR,
                         "evaluator_id": f"simulated-{judged.label}"})
    return rows


def write_simulated_files(chain: SimulatedChain, folder: Path) -> list[Path]:
    """probes.jsonl, gen-XX.jsonl and reference.jsonl, so ``rlaif-audit propagation`` can re-read the simulation."""
    from rlaif_audit.records.fileio import write_jsonl

    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "probes.jsonl", probe_rows(chain))
    paths = []
    for judged in [*chain.generations, chain.reference]:
        path = folder / f"{judged.label}.jsonl"
        write_jsonl(path, judgment_rows(chain.probes.pair_id, judged))
        paths.append(path)
    return paths


def frames(chain: SimulatedChain) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generation 0's judgments and the probe pairs as DataFrames (the report's audit context)."""
    import pandas as pd

    pairs = pd.DataFrame([{"pair_id": row["id"], "a": row["a"], "b": row["b"], "context": row["context"],
                           **row["metadata"]} for row in probe_rows(chain)])
    return pd.DataFrame(judgment_rows(chain.probes.pair_id, chain.generations[0])), pairs


@click.command(name="simulate")
@click.option("--generations", type=click.IntRange(min=1), default=10, show_default=True,
              help="Generations after gen-0 (gen-0 … gen-G are judged).")
@click.option("--probes", type=click.IntRange(min=20), default=1000, show_default=True,
              help="Probe pairs every generation judges (50% known-answer, 30% padding, 20% self-preference).")
@click.option("--transfer", default="", help="Transfer coefficient per bias, e.g. 'length=0.5,position=0.0': "
              "β_{g+1} = β_0 + τ·β_g for length, position, self_preference; error=ρ correlates the per-probe errors "
              "of consecutive generations. Unnamed biases: 0 (no transfer).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the simulation and the bootstrap.")
@click.option("--n-bootstrap", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Bootstrap resamples of the probes behind every CI.")
@click.option("--stable-margin", type=click.FloatRange(min=0.0, min_open=True), default=0.05, show_default=True,
              help="A bias with no significant change is 'stable' when its minimum detectable last − gen-0 change "
              "is at most this.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Report folder; the simulated probes and judgments go to its simulated/ folder.")
def command(generations: int, probes: int, transfer: str, seed: int, n_bootstrap: int, stable_margin: float,
            output: str) -> None:
    """Simulate evaluator generations with known bias transfer and audit them with the propagation auditor."""
    from rlaif_audit.auditing.probe_set import PropagationInputs
    from rlaif_audit.auditing.probe_set import propagation_context
    from rlaif_audit.commands.propagation import write_propagation_report
    from rlaif_audit.judging.simulated_generations import SimulationConfig, parse_transfer, simulate_chain

    try:
        coefficients = parse_transfer(transfer)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--transfer'") from exc
    config = SimulationConfig(generations=generations, probes=probes, transfer=coefficients, seed=seed)
    chain = simulate_chain(config)
    write_simulated_files(chain, Path(output) / SIMULATED_FOLDER)
    inputs = PropagationInputs(chain.probes, chain.generations, chain.reference, stable_margin, source="simulated",
                               transfer=coefficients)
    judgments, pairs = frames(chain)
    ctx = propagation_context(judgments, pairs, inputs, seed, n_bootstrap, 0.0)
    settings = {"command": "rlaif-audit simulate", "generations": generations, "probes": probes,
                "transfer": coefficients, "seed": seed, "n_bootstrap": n_bootstrap, "stable_margin": stable_margin,
                "bias_levels": chain.levels}
    write_propagation_report(ctx, settings, output, f"Simulated bias propagation ({generations} generations)",
                             "simulated")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit simulate``."""
    cli.add_command(command)
