"""Evaluator drift: two judgment sets of the same pairs compared (verdict flips, κ, |ΔP|, every bias metric's paired
change) and the two evaluator identities diffed field by field.

The loop calls :func:`check_drift` once per generation of a ``pinned`` run (gen-0's probe judgments against this
generation's) and acts on the result with :func:`act_on_drift`; ``rlaif-audit drift`` calls it on two files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from rlaif_audit.auditing.auditor import Metric
from rlaif_audit.errors import EvaluatorDrift, InputError, RlaifAuditError  # noqa: F401 (EvaluatorDrift re-exported)

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.auditing.auditor import AuditContext
    from rlaif_audit.records.types import HumanLabel, PreferencePair

ON_DRIFT = ("warn", "stop")
"""What a ``pinned`` run does when :func:`check_drift` reports drift: warn (message on stderr and in the manifest,
the run goes on) or stop (:class:`EvaluatorDrift` is raised before the generation's judgments are used)."""
FIRST, SECOND, TIE = 0, 1, 2
N_CHOICES = 3
FLIP_METRICS = ("flip_rate", "pair_flip_rate")
"""The rates compared with ``max_flip_rate``: any verdict of an order, and the pair's two-order decision."""


@dataclass(frozen=True)
class IdentityChange:
    """One identity field that differs between the two evaluators (dotted path into the identity)."""

    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass
class BiasChange:
    """One bias metric measured on both versions and its paired change (new − old) with a pair-bootstrap CI."""

    name: str
    old: Metric
    new: Metric
    change: Metric

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old.to_dict(), "new": self.new.to_dict(),
                "change": self.change.to_dict()}


@dataclass
class DriftResult:
    """What :func:`check_drift` found: ``drifted`` and a message naming what changed, with the numbers behind it."""

    drifted: bool
    message: str
    n_pairs: int
    max_flip_rate: float
    identity_changes: list[IdentityChange] = field(default_factory=list)
    metrics: dict[str, Metric] = field(default_factory=dict)
    bias_changes: list[BiasChange] = field(default_factory=list)
    identity_old: dict[str, Any] = field(default_factory=dict)
    identity_new: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``drift.json``, ``--json``)."""
        return {"drifted": self.drifted, "message": self.message, "n_pairs": self.n_pairs,
                "max_flip_rate": self.max_flip_rate,
                "identity_changes": [change.to_dict() for change in self.identity_changes],
                "metrics": {name: metric.to_dict() for name, metric in self.metrics.items()},
                "bias_changes": [change.to_dict() for change in self.bias_changes],
                "identity_old": self.identity_old, "identity_new": self.identity_new}


# ---------------------------------------------------------------------------------------------- identities


def flat_identity(identity: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An identity's leaves under dotted keys (``config.template``, ``versions.torch``); lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in identity.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_identity(value, name + "."))
        else:
            flat[name] = value
    return flat


def identity_diff(old: dict[str, Any], new: dict[str, Any]) -> list[IdentityChange]:
    """Every identity field that differs (absent on one side: None there), in sorted field order."""
    flat_old, flat_new = flat_identity(old), flat_identity(new)
    return [IdentityChange(key, flat_old.get(key), flat_new.get(key)) for key in sorted(set(flat_old) | set(flat_new))
            if flat_old.get(key) != flat_new.get(key)]


def file_identity(judgments: pd.DataFrame, path: str | None) -> dict[str, Any]:
    """The identity behind a judgments table: its sidecar's whole identity if it has one, else name and id."""
    from rlaif_audit.data.judgment_file import read_identity

    names = [str(v) for v in judgments.get("evaluator", []) if isinstance(v, str) and v]
    ids = [str(v) for v in judgments.get("evaluator_id", []) if isinstance(v, str) and v]
    evaluator_id = ids[0] if ids else ""
    recorded = read_identity(path, evaluator_id) if path else None
    return recorded if recorded is not None else {"evaluator": names[0] if names else "", "evaluator_id": evaluator_id}


def identity_changes(old_judgments: pd.DataFrame, new_judgments: pd.DataFrame, identity_old: dict[str, Any],
                     identity_new: dict[str, Any]) -> list[IdentityChange]:
    """The field-by-field diff; the files' ``evaluator_id`` is added when only it differs."""
    changes = identity_diff(identity_old, identity_new)
    ids = [next((str(v) for v in frame.get("evaluator_id", []) if isinstance(v, str) and v), "")
           for frame in (old_judgments, new_judgments)]
    if not changes and ids[0] != ids[1]:
        changes.append(IdentityChange("evaluator_id", ids[0], ids[1]))
    return changes


# ---------------------------------------------------------------------------------------------- reading


def load_judgments(source: Path | str | pd.DataFrame, where: str) -> tuple[pd.DataFrame, list[int] | None, str | None]:
    """A validated judgments table, the line of each row (None for a table) and its path (None for a table)."""
    from rlaif_audit.data.judgment_file import parse_judgments
    from rlaif_audit.data.validation import check_judgments

    if not isinstance(source, (str, Path)):
        check_judgments(source, where)
        return source.reset_index(drop=True), None, None
    frame, lines = parse_judgments(source)
    check_judgments(frame, str(source), lines)
    return frame, lines, str(source)


def judgment_keys(judgments: pd.DataFrame) -> pd.Series:
    """``pair_id`` and ``order`` of each judgment as one key."""
    return judgments["pair_id"].astype(str) + "\x1f" + judgments["order"].astype(str)


def check_same_judgments(old: pd.DataFrame, old_lines: list[int] | None, old_where: str, new: pd.DataFrame,
                         new_lines: list[int] | None, new_where: str) -> None:
    """Both sets judge the same pairs in the same orders, with the same A/B texts where both record them
    (``ab_hash``); the error names the file, line and field of the first judgment that does not match."""
    old_keys, new_keys = judgment_keys(old), judgment_keys(new)
    for keys, lines, where, other_keys, other in ((old_keys, old_lines, old_where, new_keys, new_where),
                                                   (new_keys, new_lines, new_where, old_keys, old_where)):
        unmatched = ~keys.isin(set(other_keys)).to_numpy()
        if unmatched.any():
            row = int(np.flatnonzero(unmatched)[0])
            pair_id, order = keys.iloc[row].split("\x1f")
            raise InputError(where, f"pair {pair_id!r} in order {order!r} is not judged in {other} "
                             f"({int(unmatched.sum())} judgment(s) without a match); drift compares judgments of the "
                             "same pairs in the same orders", line=None if lines is None else lines[row],
                             field="pair_id")
    check_same_texts(old, new_keys, old_where, new, new_lines, new_where)


def check_same_texts(old: pd.DataFrame, new_keys: pd.Series, old_where: str, new: pd.DataFrame,
                     new_lines: list[int] | None, new_where: str) -> None:
    """A pair id whose A/B texts differ between the two files (both record ``ab_hash``) is not the same pair."""
    if "ab_hash" not in old.columns or "ab_hash" not in new.columns:
        return
    recorded = dict(zip(judgment_keys(old), old["ab_hash"]))
    theirs = new_keys.map(recorded)
    differs = (new["ab_hash"].notna() & theirs.notna() & (new["ab_hash"] != theirs)).to_numpy()
    if differs.any():
        row = int(np.flatnonzero(differs)[0])
        pair_id = new["pair_id"].iloc[row]
        raise InputError(new_where, f"pair {pair_id!r} was judged with A/B hash {new['ab_hash'].iloc[row]}, but "
                         f"{old_where} judged it with A/B hash {theirs.iloc[row]} ({int(differs.sum())} judgment(s) "
                         "differ): not the same A and B texts (another DATA or A/B seed)",
                         line=None if new_lines is None else new_lines[row], field="ab_hash")


def placeholder_pairs(judgments: pd.DataFrame) -> pd.DataFrame:
    """A pairs table of the judged ids with empty texts, for a comparison without ``--data`` (no length metrics)."""
    import pandas as pd

    ids = pd.unique(judgments["pair_id"].astype(str))
    return pd.DataFrame({"pair_id": ids, "a": "", "b": ""})


def version_context(judgments: pd.DataFrame, lines: list[int] | None, where: str,
                    pairs: Sequence[PreferencePair] | pd.DataFrame, labels: Sequence[HumanLabel] | pd.DataFrame,
                    options: dict[str, Any], placeholder: bool = False) -> AuditContext:
    """The per-pair table of one version (both orders side by side, P(A) by the two-order rule, human shares)."""
    import pandas as pd

    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.data.validation import check_ab_hashes, check_known_pairs, recorded_ab_seed
    from rlaif_audit.records.provenance import ab_hash

    if isinstance(pairs, pd.DataFrame):
        ids = (pairs["pair_id"] if "pair_id" in pairs.columns else pairs["id"]).astype(str)
        texts = dict(zip(ids, map(ab_hash, pairs["a"], pairs["b"])))
    else:
        ids = pd.Series([str(pair.id) for pair in pairs], dtype=object)
        texts = {str(pair.id): ab_hash(pair.a, pair.b) for pair in pairs}
    check_known_pairs(judgments, ids, where, lines)
    if not placeholder:
        check_ab_hashes(judgments, texts, where, lines, recorded_seed=recorded_ab_seed(judgments, where, lines))
    return build_context(judgments, pairs, labels, n_bootstrap=0, options=options)


# ---------------------------------------------------------------------------------------------- per-pair values


def version_values(ctx: AuditContext, tie_band: float, length_threshold: float) -> dict[str, np.ndarray]:
    """Per pair of one version: slot verdict codes, P_first, the two-order choice and each bias metric's counts."""
    from rlaif_audit.auditing.context import has_list
    from rlaif_audit.records.preference import choice_codes, choice_score, content_choice

    pairs = ctx.pairs
    ab, ba = (pairs[f"verdict_{o}"].cat.codes.to_numpy().astype(int) for o in ("ab", "ba"))
    p_a = pairs["p_a"].to_numpy(dtype=float)
    choice = np.asarray(choice_codes(p_a, tie_band)).astype(int)
    parsed = (ab >= 0) & (ba >= 0)
    human = np.asarray(choice_codes(pairs["human_p_a"].to_numpy(dtype=float))).astype(int)
    agreeable = np.isin(choice, (FIRST, SECOND)) & np.isin(human, (FIRST, SECOND))
    score = np.nan_to_num(choice_score(choice))
    decided = np.isfinite(p_a)
    len_a, len_b = pairs["len_a"].to_numpy(dtype=float), pairs["len_b"].to_numpy(dtype=float)
    longer = decided & (np.abs(len_a - len_b) > length_threshold)
    list_a, list_b = has_list(pairs["text_a"]), has_list(pairs["text_b"])
    listed = decided & (list_a != list_b)
    return {
        "ab": ab, "ba": ba, "choice": choice,
        "p_ab": pairs["p_first_ab"].to_numpy(dtype=float), "p_ba": pairs["p_first_ba"].to_numpy(dtype=float),
        "prob_ab": pairs["prob_ab"].to_numpy(dtype=bool), "prob_ba": pairs["prob_ba"].to_numpy(dtype=bool),
        "p_a": p_a,
        "position_consistency": (parsed & (content_choice(ab, "ab") == content_choice(ba, "ba")), parsed),
        "first_slot_preference": ((ab == FIRST).astype(float) + (ba == FIRST),
                                  np.isin(ab, (FIRST, SECOND)).astype(float) + np.isin(ba, (FIRST, SECOND))),
        "agreement_without_ties": (agreeable & (choice == human), agreeable),
        "p_prefer_longer": (np.where(longer, np.where(len_a > len_b, score, 1 - score), 0.0), longer),
        "p_prefer_lists": (np.where(listed, np.where(list_a, score, 1 - score), 0.0), listed),
    }


BIAS_METRICS = ("position_consistency", "first_slot_preference", "agreement_without_ties", "p_prefer_longer",
                "p_prefer_lists")
"""The bias metrics whose change drift reports (each a ratio of per-pair sums; docs/audit.md defines them)."""


def comparison_blocks(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-pair columns of every drift statistic, for one pair-clustered bootstrap."""
    blocks: dict[str, np.ndarray] = {}
    for order in ("ab", "ba"):
        both = (old[order] >= 0) & (new[order] >= 0)
        blocks[f"parsed_{order}"] = both
        blocks[f"flip_{order}"] = both & (old[order] != new[order])
        probabilities = old[f"prob_{order}"] & new[f"prob_{order}"]
        blocks[f"dp_{order}"] = np.where(probabilities, np.abs(new[f"p_{order}"] - old[f"p_{order}"]), 0.0)
        blocks[f"dp_n_{order}"] = probabilities
    decided = (old["choice"] >= 0) & (new["choice"] >= 0)
    blocks["decided"] = decided
    blocks["pair_flip"] = decided & (old["choice"] != new["choice"])
    cell = np.where(decided, old["choice"] * N_CHOICES + new["choice"], -1)
    blocks["confusion"] = (cell[:, None] == np.arange(N_CHOICES**2)).astype(float)
    blocks["dp_a"] = np.where(decided, np.abs(new["p_a"] - old["p_a"]), 0.0)
    for name in BIAS_METRICS:
        for version, values in (("old", old), ("new", new)):
            blocks[f"{name}:{version}:num"], blocks[f"{name}:{version}:den"] = values[name]
    return blocks


# ---------------------------------------------------------------------------------------------- statistics


def drift_metrics(blocks: dict[str, np.ndarray], seed: int, n_bootstrap: int) -> tuple[dict[str, Metric],
                                                                                     list[BiasChange]]:
    """Flip rates, κ and mean |ΔP| between versions, and each bias metric's paired change, with bootstrap CIs."""
    from rlaif_audit.auditing.stats import Columns, SumBootstrap, family_rng
    from rlaif_audit.auditing.estimators import cohen_kappa_from_confusion

    cols = Columns(blocks)
    boot = SumBootstrap(cols.values, n_bootstrap=n_bootstrap, rng=family_rng(seed, "drift"))
    total = lambda name: int(cols.sums(boot.total, name))  # noqa: E731
    both = lambda s, name: cols.sums(s, f"{name}_ab") + cols.sums(s, f"{name}_ba")  # noqa: E731
    unit = (0.0, 1.0)
    metrics = {
        "flip_rate": boot.metric(lambda s: both(s, "flip") / both(s, "parsed"),
                                 total("parsed_ab") + total("parsed_ba"), bounds=unit),
        "flip_rate_ab": boot.metric(cols.ratio("flip_ab", "parsed_ab"), total("parsed_ab"), bounds=unit),
        "flip_rate_ba": boot.metric(cols.ratio("flip_ba", "parsed_ba"), total("parsed_ba"), bounds=unit),
        "pair_flip_rate": boot.metric(cols.ratio("pair_flip", "decided"), total("decided"), bounds=unit),
        "kappa": boot.metric(lambda s: cohen_kappa_from_confusion(cols.sums(s, "confusion"), N_CHOICES),
                             total("decided")),
        "mean_abs_delta_p_first": boot.metric(lambda s: both(s, "dp") / both(s, "dp_n"),
                                              total("dp_n_ab") + total("dp_n_ba")),
        "mean_abs_delta_p_a": boot.metric(cols.ratio("dp_a", "decided"), total("decided")),
    }
    return metrics, [bias_change(name, cols, boot) for name in BIAS_METRICS
                     if total(f"{name}:old:den") and total(f"{name}:new:den")]


def bias_change(name: str, cols: Any, boot: Any) -> BiasChange:
    """One bias metric on each version and its paired change new − old (the same resampled pairs for both)."""
    old, new = cols.ratio(f"{name}:old:num", f"{name}:old:den"), cols.ratio(f"{name}:new:num", f"{name}:new:den")
    n_old, n_new = (int(cols.sums(boot.total, f"{name}:{v}:den")) for v in ("old", "new"))
    return BiasChange(name, boot.metric(old, n_old, bounds=(0.0, 1.0)), boot.metric(new, n_new, bounds=(0.0, 1.0)),
                      boot.metric(lambda s: new(s) - old(s), min(n_old, n_new)))


# ---------------------------------------------------------------------------------------------- the check


def check_drift(old_judgments: Path | str | pd.DataFrame, new_judgments: Path | str | pd.DataFrame,
                identity_old: dict[str, Any] | None = None, identity_new: dict[str, Any] | None = None, *,
                pairs: Sequence[PreferencePair] | pd.DataFrame | None = None,
                labels: Sequence[HumanLabel] | pd.DataFrame = (), max_flip_rate: float = 0.0, tie_band: float = 0.0,
                length_threshold: float = 30.0, seed: int = 0, n_bootstrap: int = 2000) -> DriftResult:
    """Compare an evaluator's OLD and NEW judgments of the same pairs (files or tables) and their identities.

    ``drifted`` when any identity field differs (an identity not given is read from the file's
    ``.identity.json`` sidecar, else its ``evaluator``/``evaluator_id``), or when the verdict flip rate or the
    pair-decision flip rate exceeds ``max_flip_rate`` (0: any flip). ``pairs`` (with their texts) add the length
    and list metrics; ``labels`` the agreement with humans. Mismatched judgments raise :class:`InputError`.
    """
    old, old_lines, old_path = load_judgments(old_judgments, "OLD judgments")
    new, new_lines, new_path = load_judgments(new_judgments, "NEW judgments")
    old_where, new_where = old_path or "OLD judgments", new_path or "NEW judgments"
    check_same_judgments(old, old_lines, old_where, new, new_lines, new_where)
    identity_old = identity_old if identity_old is not None else file_identity(old, old_path)
    identity_new = identity_new if identity_new is not None else file_identity(new, new_path)
    changes = identity_changes(old, new, identity_old, identity_new)
    pair_table = placeholder_pairs(old) if pairs is None else pairs
    options = {"tie_band": tie_band, "length_threshold": length_threshold}
    contexts = [version_context(frame, lines, where, pair_table, labels, options, pairs is None)
                for frame, lines, where in ((old, old_lines, old_where), (new, new_lines, new_where))]
    assert contexts[0].pairs["pair_id"].tolist() == contexts[1].pairs["pair_id"].tolist()
    values = [version_values(ctx, tie_band, length_threshold) for ctx in contexts]
    metrics, bias = drift_metrics(comparison_blocks(*values), seed, n_bootstrap)
    result = DriftResult(False, "", len(contexts[0].pairs), max_flip_rate, changes, metrics, bias, identity_old,
                         identity_new)
    result.drifted, result.message = verdict(result)
    return result


def verdict(result: DriftResult) -> tuple[bool, str]:
    """Drifted or not, and the message that names what changed."""
    parts = []
    if result.identity_changes:
        shown = "; ".join(f"{c.field}: {short(c.old)} → {short(c.new)}" for c in result.identity_changes[:6])
        more = len(result.identity_changes) - 6
        parts.append(f"evaluator identity changed ({shown}{f'; {more} more' if more > 0 else ''})")
    flips = [name for name in FLIP_METRICS
             if result.metrics[name].value is not None and result.metrics[name].value > result.max_flip_rate]
    for name in flips:
        metric = result.metrics[name]
        parts.append(f"{name} {metric.value:.4f} over {metric.n} exceeds {result.max_flip_rate:g}")
    if parts:
        return True, "evaluator drift: " + "; ".join(parts)
    flip = result.metrics["flip_rate"]
    rate = "—" if flip.value is None else f"{flip.value:.4f}"
    return False, (f"no drift: same evaluator identity, verdict flip rate {rate} over {flip.n} judgments "
                   f"(threshold {result.max_flip_rate:g})")


def short(value: Any, limit: int = 40) -> str:
    """A value shortened for a one-line message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def act_on_drift(result: DriftResult, on_drift: str, warn: Callable[[str], None]) -> None:
    """``on_drift`` semantics for the loop: nothing without drift; ``warn`` calls ``warn(message)`` and returns;
    ``stop`` raises :class:`EvaluatorDrift` with the message."""
    if on_drift not in ON_DRIFT:
        raise ValueError(f"on_drift must be one of {', '.join(ON_DRIFT)}, got {on_drift!r}")
    if not result.drifted:
        return
    if on_drift == "stop":
        raise EvaluatorDrift(result.message + " (on_drift = \"stop\")")
    warn(result.message)
