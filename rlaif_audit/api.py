"""The Python API (notebooks, scripts): ``rlaif_audit.label`` and ``rlaif_audit.audit``, results with ``to_pandas()``.

Each function does what its command does, with the same defaults and the same machinery (``judging.labeling``,
``data.inputs``, ``auditing.runner``, ``reporting.builder``); errors are the same ``RlaifAuditError`` messages the
command line prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.judging.labeling import LabelSummary
    from rlaif_audit.reporting.report import Report


@dataclass
class LabelResult:
    """What :func:`label` did: the judgment file, the run's summary and the agreement with the data's labels."""

    path: Path
    summary: LabelSummary
    evaluator: str
    evaluator_id: str
    warnings: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> dict[str, Any] | None:
        """Agreement with the data's human labels (debiased, ties excluded, Wilson 95% CI), as ``label`` prints."""
        return self.summary.agreement

    def to_pandas(self) -> pd.DataFrame:
        """The judgments, one row per pair and order (the judgment file's fields)."""
        from rlaif_audit.data.judgment_file import read_judgments

        return read_judgments(self.path)

    def p_a(self) -> pd.Series:
        """Per pair, P(A ≻ B) by the two-order rule (position-debiased where both orders carry probabilities)."""
        from rlaif_audit.judging.labeling import debiased_p_a

        return debiased_p_a(self.to_pandas())


def label(data: Any = "demo", evaluator: str = "hf-judge", output: str | Path = "judgments.jsonl", *,
          options: dict[str, Any] | None = None, limit: int | None = None, ab_seed: int = 0, on_error: str = "fail",
          split: str = "test", data_dir: str | None = None, progress: bool = False, pm: Any = None) -> LabelResult:
    """Judge preference pairs in both orders with a registered evaluator, appending to ``output`` (resumable).

    ``data`` is anything ``rlaif-audit label`` reads (a file, folder, ``hf://`` dataset, ``demo``) or a list of
    :class:`~rlaif_audit.records.types.PreferencePair`. ``options`` are the evaluator's ``-O`` options.
    """
    from rlaif_audit.data.judgment_file import write_identity
    from rlaif_audit.host import make_evaluator
    from rlaif_audit.judging.labeling import label_pairs, raw_agreement

    pairs, labels, seed, warnings, skipped = _pairs_of(data, ab_seed, limit, on_error, split, data_dir)
    judge = make_evaluator(evaluator, dict(options or {}), pm)
    try:
        summary = label_pairs(judge, pairs, output, ab_seed=seed, progress=progress)
    finally:
        judge.close()
    write_identity(output, judge.name, judge.identity_hash(), judge.identity())
    summary.skipped_rows = skipped
    summary.agreement = raw_agreement(output, pairs, labels, pm)
    return LabelResult(Path(output), summary, judge.name, judge.identity_hash(), warnings)


def _pairs_of(data: Any, ab_seed: int, limit: int | None, on_error: str, split: str,
              data_dir: str | None) -> tuple[list[Any], list[Any], int | None, list[str], int]:
    """(pairs, labels, A/B seed, warnings, skipped rows) of what :func:`label` was given."""
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.records.types import PreferencePair

    if isinstance(data, (list, tuple)) and all(isinstance(pair, PreferencePair) for pair in data):
        pairs = list(data)[:limit] if limit else list(data)
        if not pairs:
            raise ConfigError("label: no preference pairs to label")
        return pairs, [], None, [], 0
    pair_set = read_pairs(str(data), seed=ab_seed, limit=limit, on_error=on_error, split=split, data_dir=data_dir)
    if not pair_set.pairs:
        raise ConfigError(f"{data}: no preference pairs to label")
    return pair_set.pairs, pair_set.labels, pair_set.ab_seed, list(pair_set.warnings), len(pair_set.skipped)


@dataclass
class AuditReport:
    """What :func:`audit` found: the typed :class:`~rlaif_audit.reporting.report.Report` and the files written."""

    report: Report
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def headline(self) -> pd.DataFrame:
        """The report's headline numbers (the ones the command prints) as a table."""
        return self.to_pandas(headline_only=True)

    def to_pandas(self, headline_only: bool = False) -> pd.DataFrame:
        """Every metric of every auditor that ran: auditor, metric, value, ci_low, ci_high, n, method, headline."""
        import pandas as pd

        headline = {row.key for row in self.report.headline}
        rows = [{"auditor": name, "metric": metric, "value": found.value,
                 "ci_low": found.ci[0] if found.ci else None, "ci_high": found.ci[1] if found.ci else None,
                 "n": found.n, "method": found.method, "headline": f"{name}.{metric}" in headline}
                for name, outcome in self.report.ok_auditors() for metric, found in outcome.metrics.items()]
        columns = ["auditor", "metric", "value", "ci_low", "ci_high", "n", "method", "headline"]
        frame = pd.DataFrame(rows, columns=columns)
        return frame[frame["headline"]].reset_index(drop=True) if headline_only else frame

    def metric(self, key: str) -> Any:
        """One metric by ``auditor.metric`` (an error naming the auditors that ran when it is absent)."""
        name, _, metric = key.partition(".")
        outcome = self.report.auditors.get(name) or self.report.sections.get(name)
        if outcome is None or metric not in outcome.metrics:
            ran = ", ".join(sorted(self.report.auditors)) or "(none)"
            raise KeyError(f"no metric {key!r} in this report; auditors: {ran}")
        return outcome.metrics[metric]

    def to_dict(self) -> dict[str, Any]:
        """report.json's content."""
        return self.report.to_dict()


def audit(judgments: str | Path | LabelResult, data: str | None = None, *, output: str | Path | None = None,
          human: str | None = None, fmt: str = "auto", auditors: Sequence[str] | None = None, seed: int = 0,
          n_bootstrap: int = 2000, ab_seed: int | None = None, tie_band: float = 0.0, protocol: str = "rlaif-audit",
          ci_method: str = "percentile", review_budget: int = 50, batch_calibration: bool = False,
          title: str = "", report_formats: Sequence[str] | None = None, split: str = "test",
          data_dir: str | None = None, pm: Any = None) -> AuditReport:
    """Audit an evaluator's judgments as ``rlaif-audit audit`` does; write the report into ``output`` when given.

    ``judgments`` is a judgment file (any registered format) or a :class:`LabelResult`; ``data`` the pairs they judge
    (for a judgment file of ``rlaif-audit`` JSONL). The other arguments are the command's options.
    """
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.auditing.runner import run_auditors
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import build_report, write_report

    pm = pm or get_plugin_manager()
    path = judgments.path if isinstance(judgments, LabelResult) else judgments
    inputs = AuditInputs.from_file(path, fmt, data=data, ab_seed=ab_seed, seed=seed, split=split,
                                   data_dir=data_dir, pm=pm)
    if human:
        inputs = inputs.with_human(human, pm)
    options = {"review_budget": review_budget, "tie_band": tie_band, "batch_calibration": batch_calibration,
               "source_format": inputs.format, "protocol": protocol, "instruction_difficulty": None,
               "ci_method": ci_method}
    ctx = build_context(inputs, seed=seed, n_bootstrap=n_bootstrap, options=options)
    config = {"judgments": str(path), "data": data, "human": human, "format": inputs.format,
              "auditors": list(auditors) if auditors else None, "seed": seed, "n_bootstrap": n_bootstrap,
              "ab_seed": inputs.ab_seed, "tie_band": tie_band, "protocol": protocol, "ci_method": ci_method,
              "review_budget": review_budget, "batch_calibration": batch_calibration, "api": "rlaif_audit.audit"}
    report = build_report(ctx, run_auditors(ctx, pm, list(auditors) if auditors else None), pairs=inputs.pairs,
                          config=config, data_source=inputs.source, data_hash=inputs.data_hash,
                          judgments_path=inputs.judgments_path, judgments_hash=inputs.judgments_hash,
                          source_format=inputs.format, title=title, warnings=inputs.warnings)
    written = write_report(report, output, pm, report_formats) if output is not None else {}
    return AuditReport(report, written)
