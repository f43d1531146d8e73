"""Labeling: show each pair to an evaluator in both orders and append the judgments to a file."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rlaif_audit.data.judgment_file import JudgmentFile, read_judgments
from rlaif_audit.errors import PluginFailure
from rlaif_audit.records.preference import CHOICE_NAMES, P_FIRST_OF_VERDICT, human_share, pair_p_a
from rlaif_audit.records.provenance import LabelProvenance
from rlaif_audit.records.types import HumanLabel, JudgeItem, Judgment, PreferencePair

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.judging.evaluator import Evaluator

CHUNK_SIZE = 64  # items handed to the evaluator at a time; judgments are fsynced after each chunk
BATCH_TIMEOUT_S = 600.0
"""Default seconds one ``judge()`` call on a batch (``CHUNK_SIZE`` items, or its missing items asked again) may take."""
TIMEOUTS_IN_A_ROW = 3  # this many timed-out batches in a row: the evaluator is taken to hang, labeling stops
POLL_S = 0.2  # the main thread waits for the worker in steps this long, so that Ctrl-C is seen at once


def judge_items(pairs: Sequence[PreferencePair]) -> list[JudgeItem]:
    """Each pair in both orders: ``ab`` shows A first, ``ba`` shows B first."""
    items = []
    for pair in pairs:
        items.append(JudgeItem(pair.id, "ab", pair.context, pair.a, pair.b))
        items.append(JudgeItem(pair.id, "ba", pair.context, pair.b, pair.a))
    return items


def debiased_p_a(judgments: pd.DataFrame) -> pd.Series:
    """P(A ≻ B) per pair of a judgments table by the two-order rule (``records.preference.pair_p_a``).

    Position-debiased where both orders carry ``p_first``; MT-Bench's games rule where an order has a verdict only.
    A pair missing an order or with a failed parse in either order gets NaN.
    """
    import pandas as pd

    implied = judgments["verdict"].map(P_FIRST_OF_VERDICT).astype(float) if "verdict" in judgments.columns else None
    given = pd.to_numeric(judgments["p_first"], errors="coerce").astype(float)
    table = judgments[["pair_id", "order"]].assign(p=given if implied is None else given.fillna(implied),
                                                   prob=given.notna().astype(float))
    wide = table.pivot_table(index="pair_id", columns="order", values=["p", "prob"], aggfunc="first", dropna=False)
    p_first = wide["p"].reindex(columns=["ab", "ba"])
    prob = wide["prob"].reindex(columns=["ab", "ba"]).fillna(0.0) > 0
    p_a = pair_p_a(p_first["ab"], p_first["ba"], prob["ab"], prob["ba"])
    return pd.Series(p_a, index=p_first.index, name="p_a")


@dataclass
class LabelSummary:
    """What a labeling run did, printed at its end."""

    pairs: int
    judgments: int
    new_judgments: int
    parse_failures: int
    seconds: float
    agreement: dict[str, Any] | None = None
    skipped_rows: int = 0
    data_hash: str = ""
    problems: dict[str, int] = field(default_factory=dict)
    """Counts of what the evaluator got wrong (:data:`PROBLEMS`); only the non-zero ones are printed."""

    def lines(self) -> list[str]:
        rate = self.new_judgments / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"pairs: {self.pairs}",
            f"judgments: {self.judgments} ({self.new_judgments} new, {rate:.1f} judgments/s)",
            f"parse failures: {self.parse_failures}",
            f"skipped input rows: {self.skipped_rows}",
        ]
        out += [f"{PROBLEMS[name]}: {count}" for name, count in self.problems.items() if count]
        if self.agreement:
            from rlaif_audit.auditing.auditor import Metric
            from rlaif_audit.reporting.text import metric_text

            out.append(f"agreement with humans (debiased, ties excluded), {AGREEMENT_KEY}: "
                       f"{metric_text(Metric.from_dict(self.agreement))}")
        return out


PROBLEMS = {
    "invalid": "invalid judgments (written as failed, with the reason)",
    "missing": "missing judgments (asked twice, written as failed)",
    "timed_out": "judgments of timed-out batches (written as failed)",
    "unknown": "judgments for items not asked (rejected, not written)",
    "duplicate": "duplicate judgments (rejected, not written)",
    "not_judgment": "returned objects that are not a Judgment (rejected, not written)",
}
"""What :func:`label_pairs` counts when an evaluator misbehaves, and how the summary names it."""


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from rlaif_audit.progress import progress_bar

    return progress_bar(total, enabled, "judgment", initial)


def label_pairs(
    evaluator: Evaluator,
    pairs: Sequence[PreferencePair],
    out_path: Path | str,
    *,
    ab_seed: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
    timeout_s: float | None = BATCH_TIMEOUT_S,
    plugin: str | None = None,
) -> LabelSummary:
    """Judge every pair in both orders, appending to ``out_path``; resumes where a previous run stopped.

    Each judgment carries the run's provenance: ``ab_seed`` (the A/B coin's seed, None when the pairs come with A
    and B fixed), the pair's ``ab_hash`` and the pairs' ``data_hash`` (:class:`LabelProvenance`).

    One process writes ``out_path`` at a time (:func:`writer_lock`). The evaluator runs in a worker thread, one batch
    of ``chunk_size`` items at a time: a batch not finished within ``timeout_s`` seconds (None: no limit) has its
    unanswered items written as failed judgments and labeling goes on (:data:`TIMEOUTS_IN_A_ROW` in a row stop it);
    an evaluator that raises (``sys.exit`` and ``KeyboardInterrupt`` included) has the judgments it returned
    written, then :class:`EvaluatorFailed` is raised. What the evaluator returns is checked at the boundary
    (:class:`_Batch`) and by the reader's rules before it is written (``JudgmentFile.append``).
    """
    from rlaif_audit.data.judgment_file import writer_lock

    provenance = LabelProvenance.of(pairs, ab_seed)
    with writer_lock(out_path):
        evaluator_id = plugin_call(evaluator, plugin, "identity()", evaluator.identity_hash)
        store = JudgmentFile(out_path, evaluator.name, evaluator_id, provenance)
        run = _Labeling(evaluator, store, plugin or type(evaluator).__module__, timeout_s)
        todo = [item for item in judge_items(pairs) if (item.pair_id, item.order) not in store.done]
        with _progress(2 * len(pairs), 2 * len(pairs) - len(todo), progress) as bar:
            for start in range(0, len(todo), chunk_size):
                run.label_batch(todo[start : start + chunk_size], bar)
    wanted = {pair.id for pair in pairs}
    problems = {**run.problems, "invalid": store.invalid}
    return LabelSummary(
        pairs=len(pairs),
        judgments=sum(1 for pair_id, _ in store.done if pair_id in wanted),
        new_judgments=run.new,
        parse_failures=store.parse_failures,
        seconds=time.perf_counter() - run.started,
        data_hash=provenance.data_hash,
        problems={name: problems.get(name, 0) for name in PROBLEMS},
    )


class EvaluatorFailed(PluginFailure):
    """An evaluator plugin raised, exited or kept timing out; what it returned before is kept in the file."""

    def __init__(self, evaluator: str, plugin: str, what: str, kept: int | None = None, path: str = "") -> None:
        self.evaluator, self.plugin, self.what, self.kept = evaluator, plugin, what, kept
        where = "" if kept is None else f"; {kept} judgments kept in {path}, run the same command to continue"
        super().__init__(f"evaluator '{evaluator}' (plugin {plugin}) failed: {what}{where}")


def one_line(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line, shortened."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."


def plugin_call(evaluator: Evaluator, plugin: str | None, what: str, call: Any) -> Any:
    """``call()`` of an evaluator method; anything it raises (``sys.exit`` too) is an :class:`EvaluatorFailed`."""
    try:
        return call()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's failure, shown as one line
        raise EvaluatorFailed(evaluator.name, plugin or type(evaluator).__module__,
                              f"{what} raised {one_line(exc)}") from exc


class _Worker:
    """One ``evaluator.judge(items)`` call in a daemon thread, its results and its end handed over by a queue."""

    def __init__(self, evaluator: Evaluator, items: list[JudgeItem]) -> None:
        self.queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.abandoned = threading.Event()
        self._evaluator, self._items = evaluator, items
        threading.Thread(target=self._run, daemon=True, name=f"evaluator-{evaluator.name}").start()

    def _run(self) -> None:
        try:
            produced = self._evaluator.judge(self._items)
            if produced is None:
                raise TypeError("judge() returned None, not an iterable of Judgment")
            iterator = iter(produced)
            try:
                for judgment in iterator:
                    self.queue.put(("judgment", judgment))
                    if self.abandoned.is_set():
                        return
            finally:
                getattr(iterator, "close", lambda: None)()
            self.queue.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - sys.exit and KeyboardInterrupt of a plugin are its errors
            self.queue.put(("error", exc))

    def events(self, timeout_s: float | None) -> Iterator[tuple[str, Any]]:
        """("judgment", j) as they come, then one ("done" | "error" | "timeout", detail)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            if left <= 0:
                self.abandoned.set()
                yield "timeout", None
                return
            try:
                kind, value = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            yield kind, value
            if kind != "judgment":
                return


class _Labeling:
    """The state of one labeling run: the file, the counts of what went wrong, the timeouts in a row."""

    def __init__(self, evaluator: Evaluator, store: JudgmentFile, plugin: str, timeout_s: float | None) -> None:
        self.evaluator, self.store, self.plugin, self.timeout_s = evaluator, store, plugin, timeout_s
        self.problems: Counter[str] = Counter()
        self.new = 0
        self.timeouts_in_a_row = 0
        self.started = time.perf_counter()

    def label_batch(self, items: list[JudgeItem], bar: Any) -> None:
        """Judge one batch (its missing items asked once more) and write what came back, whatever happens."""
        batch = _Batch(items)
        try:
            outcome, detail = self._ask(batch, items, bar)
            if outcome == "done" and batch.missing():
                outcome, detail = self._ask(batch, batch.missing(), bar)
        except BaseException:
            self._write(batch.accepted)  # a real Ctrl-C: keep what came back, then stop
            raise
        self.problems.update(batch.rejected)
        if outcome == "error":
            self._write(batch.accepted)
            raise self._failed(one_line(detail)) from detail
        if outcome == "timeout":
            self.problems["timed_out"] += len(batch.missing())
            self.timeouts_in_a_row += 1
            self._write(batch.accepted + batch.failed_missing(f"timed out: the batch took more than {self.timeout_s:g} s"))
            if self.timeouts_in_a_row >= TIMEOUTS_IN_A_ROW:
                raise self._failed(f"{TIMEOUTS_IN_A_ROW} batches in a row timed out (more than {self.timeout_s:g} s "
                                   "each); raise --timeout if it is only slow")
            return
        self.timeouts_in_a_row = 0
        self.problems["missing"] += len(batch.missing())
        self._write(batch.accepted + batch.failed_missing("the evaluator returned no judgment for this item "
                                                          "(asked twice)"))

    def _ask(self, batch: _Batch, items: list[JudgeItem], bar: Any) -> tuple[str, Any]:
        for kind, value in _Worker(self.evaluator, items).events(self.timeout_s):
            if kind != "judgment":
                return kind, value
            if batch.accept(value):
                bar.update(1)
        return "timeout", None  # not reached: events() always ends with an outcome

    def _write(self, judgments: list[Judgment]) -> None:
        self.new += self.store.append(judgments)

    def _failed(self, what: str) -> EvaluatorFailed:
        kept = len(self.store.done)
        return EvaluatorFailed(self.evaluator.name, self.plugin, what, kept, str(self.store.path))


class _Batch:
    """The items asked of an evaluator in one call and what it returned: accepted, rejected by kind, missing."""

    def __init__(self, items: list[JudgeItem]) -> None:
        self.asked = {(item.pair_id, item.order): item for item in items}
        self.accepted: list[Judgment] = []
        self.returned: set[tuple[str, str]] = set()
        self.rejected: Counter[str] = Counter()

    def accept(self, judgment: Any) -> bool:
        """Keep a judgment for an asked item not returned yet; count anything else as rejected."""
        if not isinstance(judgment, Judgment):
            self.rejected["not_judgment"] += 1
            return False
        try:
            key = (judgment.pair_id, judgment.order)
            known = key in self.asked
        except TypeError:  # an unhashable pair id
            known = False
        if not known:
            self.rejected["unknown"] += 1
            return False
        if key in self.returned:
            self.rejected["duplicate"] += 1
            return False
        self.returned.add(key)
        self.accepted.append(judgment)
        return True

    def missing(self) -> list[JudgeItem]:
        return [item for key, item in self.asked.items() if key not in self.returned]

    def failed_missing(self, reason: str) -> list[Judgment]:
        """A failed judgment, naming ``reason``, for each asked item the evaluator did not answer."""
        raw = json.dumps({"error": reason})
        return [Judgment(item.pair_id, item.order, None, None, "failed", raw) for item in self.missing()]


def human_p_a(labels: Sequence[HumanLabel]) -> dict[str, float]:
    """Share of annotators preferring A per pair (a tie counts half)."""
    counts: dict[str, list[int]] = {}
    for label in labels:
        counts.setdefault(label.pair_id, [0, 0, 0])[CHOICE_NAMES.index(label.preferred)] += 1
    shares = human_share(*zip(*counts.values())) if counts else []
    return {pair_id: float(share) for pair_id, share in zip(counts, shares)}


AGREEMENT_KEY = "agreement.accuracy_without_ties"
"""The headline metric ``label`` prints as its agreement with humans: the audit's own number, so ``label`` and
``audit`` print the same value and interval for the same judgments."""


def raw_agreement(judgments_path: Path | str, pairs: Sequence[PreferencePair], labels: Sequence[HumanLabel],
                  pm: Any = None) -> dict[str, Any] | None:
    """``AGREEMENT_KEY`` as ``rlaif-audit audit`` computes it on these judgments, pairs and labels (its default seed
    and bootstrap resamples), as a metric dict; None without labels, the auditor or a measured value."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.auditing.runner import run_one_auditor
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.host import auditors

    name, metric = AGREEMENT_KEY.split(".", 1)
    registry = auditors(pm)
    if not labels or name not in registry.names():
        return None
    inputs = AuditInputs.from_frames(read_judgments(judgments_path), pairs, labels, str(judgments_path))
    outcome = run_one_auditor(registry.get(name), build_context(inputs))  # audit's defaults
    found = outcome.metrics.get(metric) if outcome.status == "ok" else None
    return found.to_dict() if found is not None and found.value is not None else None
