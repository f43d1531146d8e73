"""The Evaluator base class that every AI judge plugin subclasses, and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.records.provenance import library_versions, stable_hash
from rlaif_audit.records.types import JudgeItem, Judgment


@dataclass(frozen=True)
class Option:
    """One evaluator option, set on the command line as ``-O name=value``."""

    help: str
    default: Any = None
    type: Callable[[str], Any] = str

    def parse(self, name: str, raw: Any) -> Any:
        if raw is None or not isinstance(raw, str):
            return raw
        try:
            if self.type is bool:
                return raw.strip().lower() in {"1", "true", "yes", "on"}
            return self.type(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Option '{name}': cannot read {raw!r} as {self.type.__name__}: {exc}") from exc


class Evaluator:
    """An AI evaluator: judges a pair shown in one order; subclass and register it.

    Subclasses set ``name``, ``description`` and ``options``, implement
    :meth:`judge`, and extend :meth:`identity` with everything that changes
    their verdicts (model weights hash, prompt template, decoding settings).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}
    pointwise: ClassVar[bool] = False
    """True when the evaluator also scores one response on its own (:meth:`score_responses`): as a reward
    function (``rlaif_audit.trl.reward_function``) it then rewards each completion by that score directly."""

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "(none)"
            raise ConfigError(f"Evaluator '{self.name}' has no option {', '.join(unknown)}. Valid options: {valid}")
        self.config = {key: opt.parse(key, options.get(key, opt.default)) for key, opt in self.options.items()}

    def identity(self) -> dict[str, Any]:
        """Everything that determines this evaluator's outputs (hashed into ``identity_hash``)."""
        return {"evaluator": self.name, "config": self.config, "versions": library_versions()}

    def identity_hash(self) -> str:
        """A short stable hash of :meth:`identity`; judgments carry it as ``evaluator_id``."""
        return stable_hash(self.identity())

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[Judgment] | Iterable[Judgment]:
        """Judge each item; yield one :class:`Judgment` per item as soon as it is ready (any order)."""
        raise NotImplementedError

    def score_responses(self, contexts: Sequence[list[dict[str, str]]],
                        responses: Sequence[str]) -> list[float | None]:
        """A pointwise evaluator's score of each response to its context (None where it failed)."""
        raise NotImplementedError(f"Evaluator '{self.name}' is pairwise: it has no pointwise score")

    def close(self) -> None:
        """Release models, sessions or servers."""
