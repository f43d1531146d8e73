"""rlaif-audit inside TRL training: any evaluator as a GRPO/RLOO reward function, and the audit callback.

```python
from rlaif_audit.trl import AuditCallback, reward_function

reward = reward_function("hf-judge", reference_column="reference", log_dir="judgments/")
trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=dataset,
                      callbacks=[AuditCallback(heldout_prompts, "hf-judge")])
```

See docs/trl.md. ``AuditCallback`` imports transformers; ``reward_function`` does not until it judges.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.judging.reward_function import JUDGMENTS_FILE, PAIRS_FILE, EvaluatorReward

if TYPE_CHECKING:
    from rlaif_audit.integrations.trl_callback import AuditCallback

__all__ = ["AuditCallback", "EvaluatorReward", "reward_function", "JUDGMENTS_FILE", "PAIRS_FILE"]


def reward_function(evaluator: Any = "hf-judge", *, reference_column: str = "reference", baseline: str | None = None,
                    log_dir: str | Path | None = None, failure_reward: float = 0.0, name: str | None = None,
                    pm: Any = None, **options: Any) -> EvaluatorReward:
    """A TRL reward function (``reward_funcs=[...]``) from a registered evaluator name (or an Evaluator instance).

    ``options`` are the evaluator's options (as ``-O`` on the command line, e.g. ``model=PATH``). A pairwise
    evaluator judges each completion against the reference completion in the dataset column ``reference_column``
    (text or messages) or, without that column, the fixed ``baseline`` text, in both orders: reward =
    2·P(completion ≻ reference) − 1, position-debiased. A pointwise one (``reward-model``) rewards its score.
    With ``log_dir`` the judged pairs and judgments are appended to ``log_dir/pairs.jsonl`` and
    ``log_dir/judgments.jsonl`` as training goes (``rlaif-audit audit`` reads them).
    """
    from rlaif_audit.host import make_evaluator

    instance = make_evaluator(evaluator, options, pm) if isinstance(evaluator, str) else evaluator
    return EvaluatorReward(instance, reference_column=reference_column, baseline=baseline, log_dir=log_dir,
                           failure_reward=failure_reward, name=name)


def __getattr__(name: str) -> Any:
    """``AuditCallback`` is imported on first use (it subclasses transformers' TrainerCallback)."""
    if name == "AuditCallback":
        from rlaif_audit.integrations.trl_callback import AuditCallback

        return AuditCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
