"""Probe suites: frozen, versioned, hashed pairs whose expected winner is known, judged in both orders.

A probe pair is an ordinary :class:`PreferencePair` whose ``metadata`` holds ``suite``, ``suite_version``,
``expected`` ("a" or "b"; "tie" or absent where there is no right answer) and ``probe_kind``. Suites come from
plugins through the ``register_probe_suites(register)`` hook; :func:`anchor_suite` and
:func:`self_preference_suite` build suites from human-labeled data and from a generation's own outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.records.fileio import write_jsonl
from rlaif_audit.records.provenance import stable_hash
from rlaif_audit.records.types import HumanLabel, Message, PreferencePair

if TYPE_CHECKING:
    import pluggy

    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.judging.evaluator import Evaluator

EXPECTED_VALUES = ("a", "b")
"""The ``expected`` values that known-answer accuracy scores; "tie" or absent means no right answer."""
PADDING_KINDS = ("padding_filler", "padding_repeat", "padding_restate")
"""The probe kinds of length probes: a win of the padded response counts as a padded win."""
ID_SEPARATOR = "/"


@dataclass(frozen=True)
class ProbeSuite:
    """A named, versioned set of probe pairs; its ``hash`` pins the content (a change must bump ``version``)."""

    name: str
    version: str
    description: str
    pairs: tuple[PreferencePair, ...] = field(default_factory=tuple)

    @property
    def hash(self) -> str:
        """:func:`suite_hash` of the pairs."""
        return suite_hash(self.pairs)

    @property
    def kinds(self) -> list[str]:
        """The distinct ``probe_kind`` values of the pairs, sorted."""
        return sorted({str(pair.metadata.get("probe_kind", "")) for pair in self.pairs})

    def subset(self, per_suite: int, seed: int = 0) -> ProbeSuite:
        """At most ``per_suite`` pairs, stratified by ``probe_kind`` (a seeded shuffle within each kind, then the
        kinds taken in turn), so every kind stays represented; the same seed gives the same subset. The subset is
        a suite of its own: its ``version`` gains ``+subsetN-seedS`` and its hash is that of the pairs kept."""
        if per_suite <= 0 or per_suite >= len(self.pairs):
            return self
        import random

        by_kind: dict[str, list[PreferencePair]] = {}
        for pair in sorted(self.pairs, key=lambda pair: pair.id):
            by_kind.setdefault(str(pair.metadata.get("probe_kind", "")), []).append(pair)
        for kind, members in by_kind.items():
            random.Random(f"{seed}:{self.name}:{kind}").shuffle(members)
        kept: list[PreferencePair] = []
        while len(kept) < per_suite:
            for members in by_kind.values():
                if members and len(kept) < per_suite:
                    kept.append(members.pop())
        return ProbeSuite(self.name, f"{self.version}+subset{per_suite}-seed{seed}", self.description,
                          tuple(sorted(kept, key=lambda pair: pair.id)))

    def summary(self) -> dict[str, Any]:
        """Name, version, pair count, hash and kinds (what ``rlaif-audit probe-suites`` lists)."""
        return {"name": self.name, "version": self.version, "n_pairs": len(self.pairs), "hash": self.hash,
                "kinds": self.kinds, "description": self.description}


def suite_hash(pairs: Iterable[PreferencePair]) -> str:
    """The one suite hash: :func:`stable_hash` of every pair's id, context, A, B and metadata, in pair-id order."""
    return stable_hash([pair.to_dict() for pair in sorted(pairs, key=lambda pair: pair.id)])


def probe_pair(suite: str, version: str, pair_id: str, prompt: str | list[Message], a: str, b: str, *,
               expected: str | None, kind: str, **extra: Any) -> PreferencePair:
    """A probe pair with the contract's metadata; a string ``prompt`` becomes one user message."""
    context = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    metadata: dict[str, Any] = {"suite": suite, "suite_version": version, "probe_kind": kind, **extra}
    if expected is not None:
        metadata["expected"] = expected
    return PreferencePair(pair_id, context, a, b, metadata)


def placed(suite: str, version: str, pair_id: str, prompt: str, better: str, worse: str, *, kind: str,
           seed: int = 0) -> PreferencePair:
    """A known-answer pair with ``better`` in slot A or B by label's seeded per-pair coin (``chosen_is_a``)."""
    from rlaif_audit.data.pairs import chosen_is_a

    if chosen_is_a(seed, pair_id):
        return probe_pair(suite, version, pair_id, prompt, better, worse, expected="a", kind=kind)
    return probe_pair(suite, version, pair_id, prompt, worse, better, expected="b", kind=kind)


def resource_json(name: str) -> Any:
    """A JSON file bundled in ``rlaif_audit/resources/``."""
    return json.loads(resources.files("rlaif_audit").joinpath("resources", name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ builders


def anchor_suite(path: str | Path, limit: int | None = None, seed: int = 0, *, name: str = "human-anchors",
                 split: str = "test", data_dir: str | None = None) -> tuple[ProbeSuite, list[HumanLabel]]:
    """A suite from any human-labeled DATA the readers accept, ``expected`` from the human majority, and its labels.

    A and B are placed by ``seed`` exactly as ``rlaif-audit label --ab-seed`` places chosen and rejected; the
    version is the data hash, so the same file, limit and seed give the same suite. Pairs whose humans tie carry
    ``expected`` "tie" (known-answer accuracy skips them); pairs without a label are left out.
    """
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.judging.labeling import human_p_a
    from rlaif_audit.records.preference import CHOICE_NAMES, choice_codes

    pair_set = read_pairs(path, seed=seed, limit=limit, split=split, data_dir=data_dir)
    shares = human_p_a(pair_set.labels)
    if not shares:
        raise ConfigError(f"{pair_set.source}: no human labels to anchor probes on (chosen/rejected data or a "
                          "'preferred'/'labels' field)")
    version = f"data-{pair_set.data_hash[:12]}-seed-{seed}"
    pairs = tuple(
        replace(pair, id=f"{name}{ID_SEPARATOR}{pair.id}",
                metadata={**pair.metadata, "suite": name, "suite_version": version, "probe_kind": "human_anchor",
                          "expected": CHOICE_NAMES[int(choice_codes(shares[pair.id]))]})
        for pair in pair_set.pairs if pair.id in shares)
    labels = [replace(label, pair_id=f"{name}{ID_SEPARATOR}{label.pair_id}") for label in pair_set.labels]
    description = f"human-labeled pairs of {pair_set.source} (A/B seed {seed}), expected = human majority"
    return ProbeSuite(name, version, description, pairs), labels


def self_preference_suite(prompts: Sequence[str | list[Message]], own_responses: Sequence[str],
                          other_responses: Sequence[str], *, name: str = "self-preference", version: str = "1",
                          seed: int = 0, own_model: str = "", other_model: str = "") -> ProbeSuite:
    """An evaluator's own generation's responses vs another model's on the same prompts; no expected answer.

    ``metadata["own"]`` says which slot holds the evaluator's own response (placed by the seeded per-pair coin);
    the excess preference for it is measured against a reference evaluator (or humans), not here.
    """
    from rlaif_audit.data.pairs import chosen_is_a

    if not len(prompts) == len(own_responses) == len(other_responses):
        raise ConfigError(f"self-preference suite: {len(prompts)} prompts, {len(own_responses)} own and "
                          f"{len(other_responses)} other responses; they must be the same length")
    pairs = []
    for index, (prompt, own, other) in enumerate(zip(prompts, own_responses, other_responses)):
        pair_id = f"{name}{ID_SEPARATOR}{index:04d}"
        own_first = chosen_is_a(seed, pair_id)
        a, b = (own, other) if own_first else (other, own)
        pairs.append(probe_pair(name, version, pair_id, prompt, a, b, expected=None, kind="self_preference",
                                own="a" if own_first else "b", own_model=own_model, other_model=other_model))
    description = f"{own_model or 'own'} responses vs {other_model or 'another model'}'s on the same prompts"
    return ProbeSuite(name, version, description, tuple(pairs))


# ------------------------------------------------------------------------------------------------ resolving


def resolve_suites(pm: pluggy.PluginManager | None, suites: Sequence[ProbeSuite | str] | None) -> list[ProbeSuite]:
    """Suites by name (from the registry) or as given; all registered suites when ``suites`` is None or empty."""
    from rlaif_audit.host import probe_suites

    registry = probe_suites(pm)
    chosen = list(suites) if suites else registry.names()
    resolved = [suite if isinstance(suite, ProbeSuite) else registry.get(suite) for suite in chosen]
    names = [suite.name for suite in resolved]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"probe suite {repeated[0]!r} is given twice")
    return resolved


def suite_pairs(suites: Sequence[ProbeSuite]) -> list[PreferencePair]:
    """Every pair of the suites; ids must be unique across them (a suite prefixes its ids with its name)."""
    pairs = [pair for suite in suites for pair in suite.pairs]
    seen: dict[str, str] = {}
    for suite in suites:
        for pair in suite.pairs:
            if pair.id in seen:
                raise ConfigError(f"probe pair id {pair.id!r} is in suites {seen[pair.id]!r} and {suite.name!r}")
            seen[pair.id] = suite.name
    return pairs


def pairs_path(out_path: Path | str) -> Path:
    """Where :func:`judge_probes` writes the probe pairs beside ``judgments.jsonl``: ``judgments.pairs.jsonl``."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.pairs.jsonl")


def write_probe_pairs(path: Path | str, pairs: Sequence[PreferencePair], labels: Sequence[HumanLabel] = ()) -> Path:
    """The pairs as native JSONL rows (id, context, a, b, metadata, labels), readable as ``--data``; atomic."""
    by_pair: dict[str, list[dict[str, str]]] = {}
    for label in labels:
        by_pair.setdefault(label.pair_id, []).append({"annotator": label.annotator, "preferred": label.preferred})
    rows = []
    for pair in pairs:
        row: dict[str, Any] = {"id": pair.id, "context": pair.context, "a": pair.a, "b": pair.b,
                               "metadata": {k: v for k, v in pair.metadata.items() if k != "source_row"}}
        if pair.id in by_pair:
            row["labels"] = by_pair[pair.id]
        rows.append(row)
    write_jsonl(path, rows)
    return Path(path)


def judge_probes(pm: pluggy.PluginManager | None, evaluator: Evaluator, suites: Sequence[ProbeSuite | str] | None,
                 out_path: Path | str, *, labels: Sequence[HumanLabel] = (), progress: bool = False) -> Path:
    """Judge every pair of ``suites`` in both orders into ``out_path`` (resumable, as ``label``); returns it.

    The suites' pairs (with any human ``labels``) are written beside it (:func:`pairs_path`) so ``rlaif-audit
    audit out_path --data pairs`` audits the probes like any judgments.
    """
    from rlaif_audit.judging.labeling import label_pairs

    pairs = suite_pairs(resolve_suites(pm, suites))
    if not pairs:
        raise ConfigError("no probe pairs to judge")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    write_probe_pairs(pairs_path(out_path), pairs, labels)
    label_pairs(evaluator, pairs, out_path, ab_seed=None, progress=progress)
    return Path(out_path)


# ------------------------------------------------------------------------------------------------ summary


@dataclass(frozen=True)
class ProbeScore:
    """One suite's (or one probe kind's) score on one judgment file."""

    suite: str
    kind: str
    measure: str
    metric: Metric

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "kind": self.kind, "measure": self.measure, **self.metric.to_dict()}


MEASURES = {
    "accuracy": "share of known-answer pairs where the judge picks the expected response (a tie counts half)",
    "padded_wins": "share of length pairs where the padded response wins (a tie counts half)",
    "own_wins": "share of self-preference pairs where the evaluator's own response wins (a tie counts half)",
}


def _measure(pair: PreferencePair) -> tuple[str, str] | None:
    """What a pair scores: (measure, the slot whose win counts) or None (no expected answer, no own slot)."""
    metadata = pair.metadata
    if metadata.get("probe_kind") in PADDING_KINDS and metadata.get("expected") in EXPECTED_VALUES:
        return "padded_wins", "b" if metadata["expected"] == "a" else "a"
    if metadata.get("expected") in EXPECTED_VALUES:
        return "accuracy", metadata["expected"]
    if metadata.get("own") in EXPECTED_VALUES:
        return "own_wins", metadata["own"]
    return None


def probe_scores(judgments_path: Path | str, pairs: Sequence[PreferencePair]) -> list[ProbeScore]:
    """Per suite and per probe kind: the win share of the counted slot with its Wilson 95% CI and n.

    Each pair's choice is the two-order rule (``records.preference.pair_p_a``); its score is
    ``ties_half_agreement`` of that choice with the counted slot (1 win, 0 loss, ½ tie). Pairs judged in only one
    order or with a failed parse are left out (n says how many count).
    """
    import numpy as np

    from rlaif_audit.auditing.stats import proportion_metric
    from rlaif_audit.data.judgment_file import read_judgments
    from rlaif_audit.judging.labeling import debiased_p_a
    from rlaif_audit.records.preference import choice_codes, choice_score, ties_half_agreement

    p_a = debiased_p_a(read_judgments(judgments_path))
    cells: dict[tuple[str, str, str], list[float]] = {}
    for pair in pairs:
        counted = _measure(pair)
        if counted is None or pair.id not in p_a.index or not np.isfinite(p_a[pair.id]):
            continue
        slot_share = 1.0 if counted[1] == "a" else 0.0
        score = float(ties_half_agreement(choice_score(np.array([choice_codes(p_a[pair.id])]))[0], slot_share))
        suite = str(pair.metadata.get("suite", ""))
        for kind in ("all", str(pair.metadata.get("probe_kind", ""))):
            cells.setdefault((suite, kind, counted[0]), []).append(score)
    return [ProbeScore(suite, kind, measure, proportion_metric(sum(scores), len(scores)))
            for (suite, kind, measure), scores in sorted(cells.items())]


def score_lines(scores: Sequence[ProbeScore]) -> list[str]:
    """The summary ``rlaif-audit probe`` prints: one line per suite and kind."""
    lines = []
    for score in scores:
        metric = score.metric
        ci = f"[95% CI {metric.ci[0]:.3f}, {metric.ci[1]:.3f}]" if metric.ci else "[no CI]"
        label = score.suite if score.kind == "all" else f"  {score.kind}"
        value = "n/a" if metric.value is None else f"{metric.value:.3f}"
        lines.append(f"{label}: {score.measure} {value} {ci}, n={metric.n}")
    return lines
