"""The inputs of the propagation audit as aligned arrays: the probe pairs (ProbeSet) and each generation's
evaluator judgments of them (GenerationJudgments), built from PreferencePairs and audit-context frames, and read
from judgment files (:func:`read_generations`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from rlaif_audit.records.preference import CHOICE_A, CHOICE_B

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.auditing.auditor import AuditContext
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.records.types import PreferencePair

PADDING_PREFIX = "padding"
"""Probe kinds of the length suite start with this (padding_filler, padding_repeat, padding_restate)."""
SELF_KIND = "self_preference"
ANCHOR_KIND = "human_anchor"
NO_SIDE = -1
"""The side code of "no side": a tied human anchor, a self-preference probe's expected side, an undecided judge."""
DEFAULT_STABLE_MARGIN = 0.05
"""A bias with no significant change is "stable" when its minimum detectable last − gen-0 change is at most this."""


@dataclass(frozen=True)
class ProbeSet:
    """The probe pairs as arrays: id, kind, the side that should win and, on self-preference probes, the own side.

    ``expected`` and ``own`` hold choice codes (0 = a, 1 = b) or −1 where absent (a tied human anchor, a
    self-preference probe has no expected side).
    """

    pair_id: np.ndarray
    kind: np.ndarray
    expected: np.ndarray
    own: np.ndarray

    @property
    def n(self) -> int:
        return len(self.pair_id)

    def known_answer(self) -> np.ndarray:
        """Probes with an objectively right answer that are neither padding nor human anchors."""
        padding = np.char.startswith(self.kind.astype(str), PADDING_PREFIX)
        return (self.expected >= 0) & ~padding & (self.kind != ANCHOR_KIND) & (self.kind != SELF_KIND)

    def padding(self) -> np.ndarray:
        return np.char.startswith(self.kind.astype(str), PADDING_PREFIX) & (self.expected >= 0)

    def anchors(self) -> np.ndarray:
        return (self.kind == ANCHOR_KIND) & (self.expected >= 0)

    def self_preference(self) -> np.ndarray:
        return (self.kind == SELF_KIND) & (self.own >= 0)


@dataclass(frozen=True)
class GenerationJudgments:
    """One evaluator's judgments of the probes, aligned with the ProbeSet: P(first) per order and probability flags."""

    p_first_ab: np.ndarray
    p_first_ba: np.ndarray
    prob_ab: np.ndarray
    prob_ba: np.ndarray
    label: str = ""


@dataclass
class PropagationInputs:
    """What the propagation auditor reads from ``AuditContext.options[PROPAGATION_OPTION]``."""

    probes: ProbeSet
    generations: list[GenerationJudgments]
    reference: GenerationJudgments | None = None
    stable_margin: float = DEFAULT_STABLE_MARGIN
    source: str = ""
    transfer: dict[str, float] | None = None
    """The injected transfer coefficients, when the generations are simulated."""


PROPAGATION_OPTION = "propagation"
"""The ``AuditContext.options`` key that carries :class:`PropagationInputs`."""


def side_code(value: Any) -> int:
    """``"a"`` → 0, ``"b"`` → 1, anything else (tie, None, absent) → −1."""
    return {"a": CHOICE_A, "b": CHOICE_B}.get(str(value).strip().lower() if value is not None else "", NO_SIDE)


def probe_set(pairs: Sequence[Any]) -> ProbeSet:
    """The ProbeSet of PreferencePairs carrying the probe metadata (``probe_kind``, ``expected``, ``own``)."""
    meta = [dict(pair.metadata or {}) for pair in pairs]
    return ProbeSet(np.array([str(pair.id) for pair in pairs], dtype=object),
                    np.array([str(m.get("probe_kind", "")) for m in meta]),
                    np.array([side_code(m.get("expected")) for m in meta], dtype=np.int64),
                    np.array([side_code(m.get("own")) for m in meta], dtype=np.int64))


def aligned_judgments(pair_frame: pd.DataFrame, probes: ProbeSet, label: str) -> GenerationJudgments:
    """A context's per-pair frame (``build_context(...).pairs``) aligned with the probes; missing pairs are NaN."""
    import pandas as pd

    frame = pair_frame.set_index("pair_id").reindex(pd.Index(probes.pair_id, dtype=object))
    flags = [frame[f"prob_{order}"].astype("boolean").fillna(False).to_numpy(dtype=bool) for order in ("ab", "ba")]
    return GenerationJudgments(frame["p_first_ab"].to_numpy(dtype=float), frame["p_first_ba"].to_numpy(dtype=float),
                               flags[0], flags[1], label)


def generation_judgments(path: str, first: AuditInputs, probes: ProbeSet, label: str) -> GenerationJudgments:
    """One judgment file of the probes, validated as ``audit`` validates it, aligned with the probes."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.data.inputs import AuditInputs

    inputs = AuditInputs.from_pairs(path, first.pairs, first.labels, first.source, first.data_hash)
    return aligned_judgments(build_context(inputs).pairs, probes, label)


def read_generations(data: str, paths: Sequence[str], reference: str | None,
                     stable_margin: float) -> tuple[PropagationInputs, AuditInputs]:
    """The probes of ``data`` (as generation 0 judged them) and every generation's and the reference's judgments.

    Shared by `rlaif-audit propagation`, `simulate` and the loop's probes and propagation stages."""
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.errors import InputError

    first = AuditInputs.from_file(paths[0], "rlaif", data=data)
    probes = probe_set(first.pairs)
    if not (probes.kind != "").any():
        raise InputError(data, "no pair has metadata.probe_kind; propagation reads probe pairs (the probe suites' "
                         "pairs files)", field="metadata.probe_kind")
    generations = [generation_judgments(path, first, probes, f"gen-{g}") for g, path in enumerate(paths)]
    reference_judged = generation_judgments(reference, first, probes, "reference") if reference else None
    return PropagationInputs(probes, generations, reference_judged, stable_margin, source=data), first


def propagation_context(judgments: pd.DataFrame, pairs: Sequence[PreferencePair] | pd.DataFrame,
                        inputs: PropagationInputs, seed: int, n_bootstrap: int, tie_band: float) -> AuditContext:
    """Generation 0's AuditContext carrying every generation under ``options['propagation']``."""
    from rlaif_audit.auditing.context import build_context

    return build_context(judgments, pairs, [], seed=seed, n_bootstrap=n_bootstrap,
                         options={"tie_band": tie_band, PROPAGATION_OPTION: inputs})
