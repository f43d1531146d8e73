"""Seconds per RL step of TRL's GRPO under the loop's rollout options (a preset's sizes; smoke unless told).

    python bench/bench_rollouts.py            # the tiny random test model (a minute or two)
    python bench/bench_rollouts.py --policy   # the run's policy (SmolLM2; minutes)
    python bench/bench_rollouts.py --steps 4 --variants default,generation_batch,continuous_batching
    nice -n 5 python bench/bench_rollouts.py --policy --preset default --steps 2 --rounds 2   # trl vs fast, alternating

One JSON line per variant: the trainer built as the policy stage builds it (``trainer_arguments`` and
``rollout_arguments`` of a config with that variant's keys), a length reward instead of a reward model, timed over
``--steps`` optimiser steps after one warm-up step.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "generation_batch": {"rl_generation_batch_size": 8},  # one generate call per two optimiser steps
    "continuous_batching": {"rl_continuous_batching": True},
    "trl": {"rollout_engine": "trl"},  # TRL's model.generate rollouts
    "fast": {"rollout_engine": "fast"},  # the fast decode engine inside TRL's trainer (loop/rollouts.py)
    # the fast engine, one generate call per three optimiser steps (the default preset's rl_steps × rl_batch_size)
    "fast_generation_batch": {"rollout_engine": "fast", "rl_generation_batch_size": 24},
}


def length_reward(completions: list[Any], **_: Any) -> list[float]:
    """A cheap stand-in reward: longer completions score higher."""
    return [float(len(c[-1]["content"] if isinstance(c, list) else c)) / 100 for c in completions]


def seconds_per_step(policy: str, overrides: dict[str, Any], steps: int,
                     preset: str = "smoke") -> tuple[float, float]:
    """(seconds per step, rollout seconds per step) of GRPO built as the policy stage builds it.

    TRL generates once per ``steps_per_generation`` optimiser steps (1 at its default generation batch), so the
    warm-up is one such cycle and ``steps`` is rounded up to whole cycles: every timed step pays its share of a
    generation call and of the old-logprob pass TRL adds when completions serve several steps."""
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.policy import _trainer_classes, rl_arguments
    from rlaif_audit.loop.prompts import bundled_prompts, messages, read_prompts
    from rlaif_audit.loop.training import device_arguments

    config = build_config(preset=preset, overrides=overrides)
    config_class, trainer_class = _trainer_classes("grpo", config.rollout_engine)  # as the policy stage picks them
    times: list[float] = []

    class StepTimes(TrainerCallback):
        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter())

    args = config_class(output_dir=tempfile.mkdtemp(prefix="bench-rollouts-"), seed=0, report_to=[],
                        save_strategy="no", logging_steps=1, disable_tqdm=True, gradient_checkpointing=False,
                        **device_arguments(), **rl_arguments(config))  # as build_trainer/trainer_arguments set them
    cycle = args.steps_per_generation
    steps = -(-steps // cycle) * cycle
    args.max_steps = cycle + steps
    prompts = Dataset.from_list([{"prompt": messages(p["prompt"])} for p in read_prompts(bundled_prompts())[:32]])
    trainer = trainer_class(model=policy, reward_funcs=length_reward, args=args, train_dataset=prompts,
                          processing_class=AutoTokenizer.from_pretrained(policy), callbacks=[StepTimes()])
    rollout_seconds: list[float] = []
    generate = trainer._generate_single_turn

    def timed_generate(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = generate(*args, **kwargs)
        rollout_seconds.append(time.perf_counter() - started)
        return result

    trainer._generate_single_turn = timed_generate  # the rollout share of each step (TRL's method or the engine's)
    trainer.train()
    return (times[-1] - times[cycle - 1]) / steps, sum(rollout_seconds[-(steps // cycle):]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="store_true", help="The run's policy instead of the tiny test model.")
    parser.add_argument("--steps", type=int, default=4, help="Timed optimiser steps per variant.")
    parser.add_argument("--variants", default="trl,fast", help=f"Comma-separated: {', '.join(VARIANTS)}.")
    parser.add_argument("--preset", default="smoke", help="The config preset whose RL sizes are timed.")
    parser.add_argument("--rounds", type=int, default=1, help="Rounds over the variants, alternating (noisy machine).")
    args = parser.parse_args()
    from rlaif_audit.judging.models import resolve_model, tiny_model

    policy = str(resolve_model("smollm2") if args.policy else tiny_model())
    for round_index, name in [(r, n) for r in range(args.rounds) for n in args.variants.split(",")]:
        started = time.perf_counter()
        per_step, rollout = seconds_per_step(policy, VARIANTS[name], args.steps, args.preset)
        print(json.dumps({"figure": "rl_step", "variant": name, "keys": VARIANTS[name], "policy": Path(policy).name,
                          "preset": args.preset, "round": round_index,
                          "seconds_per_step": round(per_step, 2),
                          "rollout_seconds_per_step": round(rollout, 2), "wall_s": round(time.perf_counter() - started, 1),
                          "load_average": list(os.getloadavg())}), flush=True)


if __name__ == "__main__":
    main()
