"""The audit inputs, built once: the judgments file's format told from its first record, read by rlaif-audit's own
reader or a registered importer, validated, hashed once, with its pairs and human labels."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from rlaif_audit.errors import ConfigError, InputError, PluginError
from rlaif_audit.records.fileio import first_record
from rlaif_audit.records.types import HumanLabel, PreferencePair

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

    from rlaif_audit.data.importer import Importer
    from rlaif_audit.host import Registry

AUTO = "auto"
NATIVE = "rlaif"
NATIVE_LABELS = "rlaif_human"
NATIVE_FIELDS = frozenset({"pair_id", "order"})
NATIVE_LABEL_FIELDS = frozenset({"pair_id", "preferred"})
NATIVE_DESCRIPTION = "rlaif-audit judgments (pair_id, order, p_first)"
NATIVE_LABELS_DESCRIPTION = "rlaif-audit labels (pair_id, preferred, annotator)"

LabelReading = Callable[[str, Sequence[PreferencePair]], "tuple[list[HumanLabel], list[str]]"]


@dataclass
class AuditInputs:
    """Validated pairs, judgments and human labels of one audit, and where they came from."""

    pairs: list[PreferencePair] | pd.DataFrame
    judgments: pd.DataFrame
    labels: list[HumanLabel] | pd.DataFrame
    format: str = NATIVE
    source: str = ""
    data_hash: str = ""
    judgments_path: str | None = None
    judgments_hash: str | None = None
    warnings: list[str] = field(default_factory=list)
    ab_seed: int | None = None

    @classmethod
    def from_file(cls, path: Path | str, fmt: str = AUTO, *, data: str | None = None, ab_seed: int | None = None,
                  seed: int = 0, split: str = "test", data_dir: str | None = None,
                  pm: pluggy.PluginManager | None = None) -> AuditInputs:
        """Detect, read, validate and hash a judgments file in any registered format (``fmt`` or ``auto``).

        DATA's A/B coin uses ``ab_seed`` when given, else the A/B seed the judgments record, else (a file written
        before provenance was recorded, with a warning) ``seed``; judgments of pairs whose A and B were fixed record
        no seed (the coin does not apply).
        """
        path, registry = str(path), _importers(pm)
        resolved = resolve_format(path, fmt, registry)
        if resolved == NATIVE:
            return _native_inputs(path, data, ab_seed, seed, split, data_dir)
        return _imported_inputs(path, registry.get(resolved)(), resolved, data)

    @classmethod
    def from_pairs(cls, judgments_path: Path | str, pairs: Sequence[PreferencePair], labels: Sequence[HumanLabel],
                   source: str, warnings: Sequence[str] = ()) -> AuditInputs:
        """A rlaif-audit judgments file audited on pairs already read (the loop's pairs, ``--data``)."""
        from rlaif_audit.data.judgment_file import parse_judgments
        from rlaif_audit.data.validation import check_judgments, recorded_ab_seed

        path = str(judgments_path)
        judgments, lines = parse_judgments(path)
        check_judgments(judgments, path, lines)
        seed = recorded_ab_seed(judgments, path, lines)
        return _joined(path, judgments, lines, pairs, labels, source, list(warnings), seed)

    @classmethod
    def from_frames(cls, judgments: pd.DataFrame, pairs: Sequence[PreferencePair] | pd.DataFrame,
                    labels: Sequence[HumanLabel] | pd.DataFrame, where: str = "judgments") -> AuditInputs:
        """Judgments, pairs and labels given as tables or records (the Python API), validated."""
        from rlaif_audit.data.validation import check_judgments

        check_judgments(judgments, where)
        _check_pairs_and_labels(judgments, pairs, labels, where, None, None)
        return cls(pairs, judgments, labels)

    def with_human(self, path: str, pm: pluggy.PluginManager | None = None) -> AuditInputs:
        """These inputs with the labels of ``--human`` (any registered label format) for the judged pairs."""
        labels, warnings = human_label_reader(path, _importers(pm))(path, self.pairs)
        judged = {pair.id for pair in self.pairs}
        matched = [label for label in labels if label.pair_id in judged]
        if not matched:
            raise InputError(path, f"none of its {len(labels)} labels names a judged pair (pair ids such as "
                             f"{', '.join(repr(p.id) for p in self.pairs[:2])})", field="pair_id")
        if len(matched) < len(labels):
            warnings.append(f"{len(labels) - len(matched)} labels in {path} are for pairs that were not judged")
        return replace(self, labels=matched, warnings=self.warnings + warnings)

    def compared(self, path: str, fmt: str = AUTO, *, data: str | None = None, ab_seed: int | None = None,
                 seed: int = 0, split: str = "test", data_dir: str | None = None,
                 pm: pluggy.PluginManager | None = None) -> AuditInputs:
        """A second evaluator's judgments (``--compare``), kept to the pairs of these ones, with their labels."""
        other = AuditInputs.from_file(path, fmt, data=data, ab_seed=ab_seed, seed=seed, split=split,
                                      data_dir=data_dir, pm=pm)
        known = {pair.id for pair in self.pairs}
        shared = [pair for pair in other.pairs if pair.id in known]
        if not shared:
            raise InputError(path, "judges none of the pairs of the main judgments file; --compare needs judgments "
                             "of the same pairs", field="pair_id")
        shared_ids = {pair.id for pair in shared}
        judged = other.judgments[other.judgments["pair_id"].astype(str).isin(known)]
        return replace(other, pairs=shared, judgments=judged,
                       labels=[label for label in self.labels if label.pair_id in shared_ids])


# --------------------------------------------------------------------------------------------------- formats


def _importers(pm: pluggy.PluginManager | None) -> Registry[type[Importer]]:
    from rlaif_audit.host import importers

    registry = importers(pm)
    for reserved in (AUTO, NATIVE):
        if reserved in registry.items:
            raise PluginError(f"Plugin '{registry.items[reserved].plugin}' registered an importer named "
                              f"'{reserved}', a name rlaif-audit keeps for its own format; rename it")
    return registry


def format_choices(pm: pluggy.PluginManager | None = None) -> list[str]:
    """What ``audit --format`` accepts: auto, rlaif and every registered importer."""
    return [AUTO, NATIVE, *_importers(pm).names()]


def detect_format(path: Path | str, pm: pluggy.PluginManager | None = None) -> str:
    """The format of a judgments or labels file, from its first record's fields (the rest is not read)."""
    return _detected(str(path), _importers(pm))


def _detected(path: str, registry: Registry[type[Importer]]) -> str:
    line, first = first_record(path)
    keys = set(first)
    if NATIVE_FIELDS <= keys:
        return NATIVE
    found = [name for name in registry.names() if registry.get(name)().detect(first)]
    if found:
        return found[0]
    if NATIVE_LABEL_FIELDS <= keys:
        return NATIVE_LABELS
    found = [registry.get(name)().labels_format or name for name in registry.names()
             if registry.get(name)().detect_labels(first)]
    if found:
        return found[0]
    expected = "; ".join([NATIVE_DESCRIPTION, *(registry.get(name).description for name in registry.names())])
    shown = ", ".join(sorted(keys)[:12])
    raise InputError(path, f"cannot tell the format from the fields ({shown}); expected {expected}", line=line)


def resolve_format(path: str, fmt: str, registry: Registry[type[Importer]]) -> str:
    """The judgments file's format: ``fmt`` unless it is ``auto``; an error when the file is not judgments."""
    detected = _detected(path, registry)
    judgment_formats = [NATIVE, *registry.names()]
    if fmt == AUTO:
        if detected not in judgment_formats:
            raise InputError(path, f"looks like {detected.replace('_', ' ')} (human labels), not judgments; pass it "
                             "with --human")
        return detected
    if detected != fmt and detected in judgment_formats:
        raise InputError(path, f"--format {fmt} was given but the file looks like {detected} judgments")
    return fmt


def human_label_reader(path: str, registry: Registry[type[Importer]]) -> LabelReading:
    """The reader of a ``--human`` file: rlaif-audit labels or a registered importer's label format."""
    from rlaif_audit.data.human_labels import is_label_file, read_human_labels
    from rlaif_audit.data.sources import CSV_SUFFIXES, PARQUET_SUFFIXES

    def native(label_path: str, _pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
        labels = read_human_labels(label_path)
        return list(labels), list(labels.warnings)

    if path.lower().endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES, ".gz")):  # tables: rlaif-audit labels, review answers
        return native
    line, first = first_record(path)
    if is_label_file(path, first):
        return native
    for name in registry.names():
        importer = registry.get(name)()
        if importer.detect_labels(first):
            return importer.read_labels
    label_formats = [registry.get(name).labels_description for name in registry.names()]
    expected = ", ".join([NATIVE_LABELS_DESCRIPTION, *(text for text in label_formats if text)])
    kind = _detected(path, registry)
    raise InputError(path, f"looks like {kind} judgments, not human labels; expected {expected}", line=line)


# ---------------------------------------------------------------------------------------------- assembling


def _native_inputs(path: str, data: str | None, ab_seed: int | None, seed: int, split: str,
                   data_dir: str | None) -> AuditInputs:
    from rlaif_audit.data.judgment_file import parse_judgments
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.data.sources import skip_warnings
    from rlaif_audit.data.validation import check_judgments, has_ab_hashes, recorded_ab_seed

    judgments, lines = parse_judgments(path)
    check_judgments(judgments, path, lines)
    if data is None:
        raise ConfigError("--data is required with rlaif-audit judgments: the pairs they judge (the DATA given to "
                          "`rlaif-audit label`)")
    recorded, provenance = recorded_ab_seed(judgments, path, lines), has_ab_hashes(judgments)
    used = _coin_seed(ab_seed, recorded, provenance, seed)
    notes = [] if provenance else [
        f"{path} records no A/B provenance (written before rlaif-audit recorded it): which response is A in "
        f"{data} is assumed to follow A/B seed {used}{'' if ab_seed is not None else ' (--seed)'}, and nothing "
        "checks that the pairs are the ones judged; relabel, or pass --ab-seed with the seed given to `label`"]
    pair_set = read_pairs(data, seed=used, split=split, data_dir=data_dir)
    return _joined(path, judgments, lines, pair_set.pairs, pair_set.labels, pair_set.source,
                   notes + skip_warnings(pair_set.skipped), recorded, pair_set.ab_seed)


def _coin_seed(given: int | None, recorded: int | None, provenance: bool, seed: int) -> int:
    """The seed DATA's A/B coin is read with: ``--ab-seed``, else the judgments' ``ab_seed``, else ``--seed`` for a
    file without provenance (the old behaviour); judgments of pairs with A and B fixed record none (any seed does)."""
    if given is not None:
        return given
    if recorded is not None:
        return recorded
    return 0 if provenance else seed


def _joined(path: str, judgments: pd.DataFrame, lines: list[int], pairs: Sequence[PreferencePair],
            labels: Sequence[HumanLabel], source: str, warnings: list[str], recorded_seed: int | None = None,
            ab_seed: int | None = None) -> AuditInputs:
    """Validated rlaif-audit judgments with the pairs they judge (and those pairs' labels) only; the pairs' A/B
    texts must be those the judgments record (``ab_hash``), and their data hash is the one `label` printed."""
    from rlaif_audit.data.pairs import pair_warnings
    from rlaif_audit.data.validation import check_ab_hashes
    from rlaif_audit.records.provenance import ab_hash, data_hash, file_hash

    _check_pairs_and_labels(judgments, pairs, labels, path, lines, source)
    judged = set(judgments["pair_id"].astype(str))
    kept = [pair for pair in pairs if pair.id in judged]
    check_ab_hashes(judgments, {pair.id: ab_hash(pair.a, pair.b) for pair in kept}, path, lines,
                    recorded_seed=recorded_seed, given_seed=ab_seed if ab_seed is not None else recorded_seed,
                    data=source)
    kept_labels = [label for label in labels if label.pair_id in judged]
    audited_hash = data_hash(kept)
    notes = pair_warnings(kept) + warnings + order_warnings(judgments) + _data_hash_warnings(judgments, audited_hash)
    return AuditInputs(kept, judgments, kept_labels, NATIVE, source, audited_hash, path, file_hash(path), notes,
                       ab_seed if ab_seed is not None else recorded_seed)


def _data_hash_warnings(judgments: pd.DataFrame, audited_hash: str) -> list[str]:
    """A warning when every judgment names one data hash and the judged pairs given hash otherwise (a context
    changed under the same ids: the A/B hashes cover the responses only)."""
    recorded = judgments["data_hash"].dropna().unique() if "data_hash" in judgments.columns else []
    if len(recorded) != 1 or judgments["data_hash"].isna().any() or recorded[0] == audited_hash:
        return []
    return [f"the judged pairs given hash to {audited_hash[:16]}…, but the judgments were labeled from data "
            f"hashing to {str(recorded[0])[:16]}…: the pairs' contexts (or ids) are not those labeled"]


def _imported_inputs(path: str, importer: Importer, fmt: str, data: str | None) -> AuditInputs:
    from rlaif_audit.data.validation import check_judgments
    from rlaif_audit.records.provenance import file_hash

    imported = importer.read(path, data)
    check_judgments(imported.judgments, path, imported.judgment_lines, imported.evaluator_field)
    _check_pairs_and_labels(imported.judgments, imported.pairs, imported.labels, path, imported.judgment_lines, None)
    judgments_hash = file_hash(path)
    notes = [importer.one_order_note] if importer.one_order_note else order_warnings(imported.judgments)
    return AuditInputs(imported.pairs, imported.judgments, imported.labels, fmt, imported.source or path,
                       imported.data_hash or judgments_hash, path, judgments_hash, imported.warnings + notes)


def _check_pairs_and_labels(judgments: pd.DataFrame, pairs: Sequence[PreferencePair] | pd.DataFrame,
                            labels: Sequence[HumanLabel] | pd.DataFrame, where: str, lines: Sequence[int] | None,
                            data: str | None) -> None:
    import pandas as pd

    from rlaif_audit.data.validation import check_known_pairs, check_labels, check_pair_ids, check_pair_table

    if isinstance(pairs, pd.DataFrame):
        pair_ids = check_pair_table(pairs)
    else:
        pair_ids = pd.Series([str(pair.id) for pair in pairs], dtype=object)
    check_pair_ids(pair_ids)
    check_known_pairs(judgments, pair_ids, where, lines, data)
    if isinstance(labels, pd.DataFrame):
        frame = labels.reindex(columns=["pair_id", "preferred"]).reset_index(drop=True)
        check_labels(frame["pair_id"], frame["preferred"])
    else:
        check_labels(pd.Series([label.pair_id for label in labels], dtype=object),
                     pd.Series([label.preferred for label in labels], dtype=object))


def order_warnings(judgments: pd.DataFrame) -> list[str]:
    """A warning when some pairs were judged in one order only."""
    ok = judgments[judgments["parse_status"] == "ok"]
    orders = ok.groupby("pair_id")["order"].nunique()
    single = int((orders < 2).sum()) + len(set(judgments["pair_id"]) - set(ok["pair_id"]))
    if single == 0:
        return []
    return [f"{single} of {judgments['pair_id'].nunique()} pairs lack a usable judgment in both orders; their "
            "position-debiased preference is undefined"]

