"""Plain data records shared by readers, evaluators, auditors and the loop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Message = dict[str, str]  # {"role": "user"|"assistant"|"system", "content": str}
Order = Literal["ab", "ba"]
Preferred = Literal["a", "b", "tie"]
Verdict = Literal["first", "second", "tie"]
ParseStatus = Literal["ok", "failed"]


def assistant_turn(text: str) -> list[Message]:
    """A reply as TRL's conversational preference format holds ``chosen``/``rejected``: one assistant message."""
    return [{"role": "assistant", "content": text}]


def reply_text(turns: list[Message] | str) -> str:
    """The text of a reply held as :func:`assistant_turn` messages (or, in files written before them, as text)."""
    return turns if isinstance(turns, str) else "".join(str(m.get("content", "")) for m in turns)


@dataclass(frozen=True)
class PreferencePair:
    """Two responses to one context; ``a`` and ``b`` are in data order."""

    id: str
    context: list[Message]
    a: str
    b: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HumanLabel:
    """One annotator's preference for one pair."""

    pair_id: str
    preferred: Preferred
    annotator: str = "source"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JudgeItem:
    """One pair shown to an evaluator in one order."""

    pair_id: str
    order: Order
    context: list[Message]
    first: str
    second: str


@dataclass
class Judgment:
    """One evaluator verdict on one pair in one order (a line of judgments.jsonl).

    ``ab_seed``, ``ab_hash`` and ``data_hash`` are the labeling run's provenance
    (:class:`rlaif_audit.records.provenance.LabelProvenance`); None in files written before they were recorded.
    """

    pair_id: str
    order: Order
    p_first: float | None
    verdict: Verdict | None
    parse_status: ParseStatus = "ok"
    raw: str | None = None
    latency_s: float = 0.0
    evaluator: str = ""
    evaluator_id: str = ""
    ab_seed: int | None = None
    ab_hash: str | None = None
    data_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

