"""An evaluator as an RL reward function (TRL GRPO/RLOO ``reward_funcs``), judging as training goes.

TRL calls a custom reward function as ``f(prompts=…, completions=…, completion_ids=…, **columns)``, where
``columns`` holds every other dataset column (one value per completion) plus ``trainer_state``, ``log_metric`` and
``log_extra``, and expects one float (or None) per completion. A pairwise evaluator scores each completion against
a reference completion (a dataset column, or a fixed baseline) in both orders, position-debiased; a pointwise
evaluator (``Evaluator.pointwise``) scores each completion directly. The loop's d-RLAIF policy stage uses this
same class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.records.types import Message, PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.data.judgment_file import JudgmentFile
    from rlaif_audit.judging.evaluator import Evaluator

JUDGMENTS_FILE = "judgments.jsonl"
PAIRS_FILE = "pairs.jsonl"
"""The files a reward function writes in its ``log_dir``: audit them with
``rlaif-audit audit DIR/judgments.jsonl --data DIR/pairs.jsonl -o REPORT``."""


def text_of(value: Any) -> str:
    """The text of a TRL completion or reference: a string, or the last message of a conversational one."""
    if isinstance(value, list):
        return str(value[-1]["content"]) if value else ""
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return str(value)


def context_of(prompt: Any) -> list[Message]:
    """A TRL prompt as chat messages: a conversational prompt as it is, a standard (text) one as one user turn."""
    if isinstance(prompt, list):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    return [{"role": "user", "content": str(prompt)}]


class EvaluatorReward:
    """A TRL reward function from an rlaif-audit evaluator (see the module docstring).

    Pairwise reward = 2·P(completion ≻ reference) − 1 ∈ [−1, 1] with P the position-debiased two-order P(A)
    (``records.preference.pair_p_a``); a failed parse in either order gives ``failure_reward`` (0, a tie) and is
    counted in the ``<name>/parse_failures`` metric. Pointwise reward = the evaluator's score. The reference is the
    ``reference_column`` value (a text or messages), or, with ``references``, the text that mapping gives for that
    column's value (the loop: prompt id → the input policy's first candidate), else ``baseline``. With ``log_dir``
    each judged pair (completion as A, reference as B) and its two judgments are appended as they are made.
    """

    def __init__(self, evaluator: Evaluator, *, reference_column: str = "reference", baseline: str | None = None,
                 references: Mapping[str, str] | None = None, log_dir: Path | str | None = None,
                 failure_reward: float = 0.0, name: str | None = None) -> None:
        self.evaluator = evaluator
        self.reference_column = reference_column
        self.references = references
        self.baseline = baseline
        self.failure_reward = failure_reward
        self.__name__ = name or f"rlaif_audit_{evaluator.name.replace('-', '_')}"
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self._store: JudgmentFile | None = None
        self._pair_ids: set[str] = set()
        self.calls = 0

    # ------------------------------------------------------------------------------------------- TRL's call

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 log_metric: Any = None, trainer_state: Any = None, **columns: Any) -> list[float | None]:
        """One reward per completion (TRL's reward function signature)."""
        step = int(getattr(trainer_state, "global_step", self.calls) or 0)
        self.calls += 1
        contexts = [context_of(prompt) for prompt in prompts]
        texts = [text_of(completion) for completion in completions]
        references = self._references(columns, len(texts))
        if getattr(self.evaluator, "pointwise", False):
            rewards = [float(r) if r is not None else None for r in self.evaluator.score_responses(contexts, texts)]
            if references is not None and self.log_dir is not None:
                self._judge(self._pairs(contexts, texts, references, step))
            return rewards
        if references is None:
            raise ConfigError(f"reward function {self.__name__}: the pairwise evaluator '{self.evaluator.name}' needs "
                              f"a reference completion per prompt: a dataset column '{self.reference_column}' "
                              "(reference_column=...) or a fixed baseline=... text")
        pairs = self._pairs(contexts, texts, references, step)
        rewards, failures = self._pairwise_rewards(pairs, self._judge(pairs))
        if log_metric is not None:
            log_metric(f"{self.__name__}/parse_failures", float(failures))
        return rewards

    def _references(self, columns: dict[str, Any], n: int) -> list[str] | None:
        if self.reference_column in columns and columns[self.reference_column] is not None:
            values = columns[self.reference_column]
            if self.references is not None:
                return [self.references[str(value)] for value in values]
            return [text_of(value) for value in values]
        return None if self.baseline is None else [self.baseline] * n

    def _pairs(self, contexts: list[list[Message]], texts: list[str], references: list[str],
               step: int) -> list[PreferencePair]:
        """Completion (A) vs reference (B); the id names the step and hashes the texts (stable across a resume)."""
        from rlaif_audit.records.provenance import stable_hash

        return [PreferencePair(f"s{step}-{stable_hash([context, text, reference], 12)}", context, text, reference,
                               {"step": step, "generator_a": "policy", "generator_b": "reference"})
                for context, text, reference in zip(contexts, texts, references)]

    # ----------------------------------------------------------------------------------------- judging

    def _judge(self, pairs: list[PreferencePair]) -> dict[tuple[str, str], float | None]:
        """P(first) of each distinct pair in both orders, appended to the judgment file when there is one."""
        from rlaif_audit.judging.labeling import judge_items

        unique = list({pair.id: pair for pair in pairs}.values())
        judgments = list(self.evaluator.judge(judge_items(unique)))
        if self.log_dir is not None:
            self._append(unique, judgments)
        return {(j.pair_id, j.order): j.p_first for j in judgments}

    def _pairwise_rewards(self, pairs: list[PreferencePair],
                          p_first: dict[tuple[str, str], float | None]) -> tuple[list[float | None], int]:
        import numpy as np

        from rlaif_audit.records.preference import pair_p_a

        ab = np.array([_number(p_first.get((pair.id, "ab"))) for pair in pairs])
        ba = np.array([_number(p_first.get((pair.id, "ba"))) for pair in pairs])
        p_a = pair_p_a(ab, ba, np.isfinite(ab), np.isfinite(ba))
        rewards = [float(2.0 * p - 1.0) if np.isfinite(p) else self.failure_reward for p in p_a]
        return rewards, int(np.sum(~np.isfinite(p_a)))

    def _append(self, pairs: list[PreferencePair], judgments: list[Any]) -> None:
        from rlaif_audit.records.fileio import append_jsonl
        from rlaif_audit.records.provenance import LabelProvenance

        store = self._open()
        new_pairs = [pair for pair in pairs if pair.id not in self._pair_ids]
        append_jsonl(self._path(PAIRS_FILE), [pair.to_dict() for pair in new_pairs])
        self._pair_ids.update(pair.id for pair in new_pairs)
        store.provenance = LabelProvenance.of(pairs, None)  # A and B are fixed (completion, reference): no coin
        store.append(judgments)

    def _path(self, name: str) -> Path:
        assert self.log_dir is not None
        from rlaif_audit import processes

        rank = processes.process_index()  # the trainer's rank (its PartialState)
        return self.log_dir / (name if rank == 0 else name.replace(".jsonl", f".rank{rank}.jsonl"))

    def _open(self) -> JudgmentFile:
        """The judgment file, opened once (an existing one of the same evaluator is resumed)."""
        if self._store is None:
            from rlaif_audit.data.judgment_file import JudgmentFile, write_identity
            from rlaif_audit.records.fileio import read_jsonl

            path, evaluator = self._path(JUDGMENTS_FILE), self.evaluator
            path.parent.mkdir(parents=True, exist_ok=True)
            self._store = JudgmentFile(path, evaluator.name, evaluator.identity_hash())
            if self._path(PAIRS_FILE).exists():
                self._pair_ids = {str(row["id"]) for row in read_jsonl(self._path(PAIRS_FILE))}
            write_identity(path, evaluator.name, evaluator.identity_hash(), evaluator.identity())
        return self._store

    @property
    def judgments_path(self) -> Path | None:
        """The judgment file written (None without ``log_dir``)."""
        return None if self.log_dir is None else self._path(JUDGMENTS_FILE)

    @property
    def pairs_path(self) -> Path | None:
        """The pairs file written beside it (``--data`` of ``rlaif-audit audit``)."""
        return None if self.log_dir is None else self._path(PAIRS_FILE)

    def close(self) -> None:
        """Release the evaluator's models."""
        self.evaluator.close()


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)
