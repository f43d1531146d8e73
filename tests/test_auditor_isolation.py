"""Auditors are isolated: none sees another's changes to the context, a hanging one times out, and sys.exit or
KeyboardInterrupt inside one is recorded as its error while the others run and the report is written."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl
from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult, Metric
from rlaif_audit.auditing.context import build_context
from rlaif_audit.auditing.runner import run_auditors
from rlaif_audit.testing import synthetic_frames, synthetic_judgments

BUILT_IN = ["agreement", "calibration", "length", "position"]
RELEASE = threading.Event()
"""Set at the end of the module, so that the hanging auditor's abandoned thread ends."""


def context(n: int = 300) -> AuditContext:
    pairs, labels = synthetic_frames(n, 0, n_annotators=2)
    judgments = synthetic_judgments(pairs, {"noise": 0.7, "position_bias": 0.4}, evaluator_id="isolation-test")
    judgments.loc[judgments.index[:4], "parse_status"] = "failed"  # a few failed orders: a status column to mutate
    ctx = build_context(judgments, pairs, labels, seed=3, n_bootstrap=100, options={"n_bins": 10})
    ctx.compare = build_context(judgments, pairs, labels, seed=3, n_bootstrap=100)
    return ctx


def _mutations(ctx: AuditContext) -> dict[str, Callable[[], Any]]:
    """Every way an auditor could change what the others read: each field, its columns, cells, buffers and attrs."""
    pairs = ctx.pairs
    list_column = next((c for c in pairs.columns if pairs[c].dtype == object
                        and any(isinstance(v, (list, dict)) for v in pairs[c])), None)

    def cell_container() -> None:
        if list_column is None:
            raise LookupError("no container column")
        cell = pairs[list_column].iloc[0]
        cell.append("x") if isinstance(cell, list) else cell.update(x=1)

    def each_column_in_place() -> None:
        for column in list(pairs.columns):
            if pairs[column].dtype == np.float64:
                pairs.loc[:, column] = pairs[column].to_numpy()[::-1].copy()

    def raw_buffer() -> None:
        values = pairs["p_a"].to_numpy()
        values.flags.writeable = True
        values[:] = 0.0

    def categorical_buffer() -> None:
        pairs["verdict_ab"].array[:] = pairs["verdict_ab"].cat.categories[-1]

    return {  # the buffer writes first: the later column assignments replace those columns in this view
        "pairs p_a buffer": raw_buffer,
        "pairs verdict_ab categorical buffer": categorical_buffer,
        "pairs.p_a = 1 - p_a": lambda: pairs.__setitem__("p_a", 1.0 - pairs["p_a"]),
        "pairs.human_p_a flipped": lambda: pairs.__setitem__("human_p_a", 1.0 - pairs["human_p_a"]),
        "pairs.loc every numeric column": each_column_in_place,
        "pairs.status_ab": lambda: pairs.__setitem__("status_ab", "failed"),
        "pairs cell container": cell_container,
        "pairs.attrs": lambda: pairs.attrs.__setitem__("n_unjudged_pairs", 10**6),
        "pairs.iloc every other row": lambda: pairs.iloc.__setitem__((slice(None, None, 2), 1), 0.0),
        "del pairs.text_a": lambda: pairs.__delitem__("text_a"),
        "judgments.p_first": lambda: ctx.judgments.__setitem__("p_first", 0.5),
        "judgments.pop parse_status": lambda: ctx.judgments.pop("parse_status"),
        "labels.preferred": lambda: ctx.labels.__setitem__("preferred", "tie"),
        "labels.pop annotator": lambda: ctx.labels.pop("annotator"),
        "options.n_bins": lambda: ctx.options.__setitem__("n_bins", 2),
        "options.update": lambda: ctx.options.update(tie_band=0.4, review_budget=0),
        "seed": lambda: setattr(ctx, "seed", 99),
        "n_bootstrap": lambda: setattr(ctx, "n_bootstrap", 3),
        "compare.pairs.p_a": lambda: ctx.compare.pairs.__setitem__("p_a", 0.0),
        "compare": lambda: setattr(ctx, "compare", None),
    }


class VandalAuditor(Auditor):
    """Tries every mutation of the context; counts the ones its own view allowed."""

    name = "aaa-vandal"
    description = "Mutates every field of the context it is given."
    attempted: dict[str, str] = {}

    def audit(self, ctx: AuditContext) -> AuditResult:
        for label, mutate in _mutations(ctx).items():
            try:
                mutate()
                VandalAuditor.attempted[label] = "changed its own view"
            except Exception as exc:  # noqa: BLE001 - refused: read-only
                VandalAuditor.attempted[label] = f"refused: {type(exc).__name__}"
        return AuditResult(metrics={"n": Metric(float(len(ctx.pairs)), None, len(ctx.pairs), "count")})


class ExitingAuditor(Auditor):
    name = "aab-exits"
    description = "Calls sys.exit."

    def audit(self, ctx: AuditContext) -> AuditResult:
        import sys

        sys.exit(3)


class InterruptingAuditor(Auditor):
    name = "aac-interrupts"
    description = "Raises KeyboardInterrupt."

    def audit(self, ctx: AuditContext) -> AuditResult:
        raise KeyboardInterrupt


class HangingAuditor(Auditor):
    name = "aad-hangs"
    description = "Never returns (until the test module ends)."

    def audit(self, ctx: AuditContext) -> AuditResult:
        RELEASE.wait()
        return AuditResult()


class HostilePlugin:
    @hookimpl
    def register_auditors(self, register: Callable[[type], None]) -> None:
        for cls in (VandalAuditor, ExitingAuditor, InterruptingAuditor, HangingAuditor):
            register(cls)


@pytest.fixture(autouse=True, scope="module")
def release_hanging_threads():
    yield
    RELEASE.set()


def metric_values(outcomes: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: {key: metric.to_dict() for key, metric in outcomes[name].metrics.items()} for name in names}


def test_an_auditor_mutating_every_field_changes_no_other_result(pm) -> None:
    pm.register(HostilePlugin(), name="hostile-plugin")
    ctx = context()
    before = ctx.pairs.copy(deep=True), ctx.judgments.copy(deep=True), dict(ctx.options), ctx.seed
    alone = run_auditors(ctx, pm, BUILT_IN)
    VandalAuditor.attempted.clear()
    after_vandal = run_auditors(ctx, pm, ["aaa-vandal", *BUILT_IN])
    assert len(VandalAuditor.attempted) == len(_mutations(ctx)), "every mutation was tried"
    assert after_vandal["aaa-vandal"].status == "ok"
    assert {name: after_vandal[name].status for name in BUILT_IN} == dict.fromkeys(BUILT_IN, "ok")
    assert metric_values(after_vandal, BUILT_IN) == metric_values(alone, BUILT_IN)
    assert sum(len(alone[name].metrics) for name in ("agreement", "calibration")) >= 13  # 4 agreement, 9 calibration
    refused = {label for label, what in VandalAuditor.attempted.items() if what.startswith("refused")}
    assert {"pairs p_a buffer", "options.n_bins", "options.update"} <= refused
    # the caller's context is as it was
    assert ctx.pairs.equals(before[0]) and ctx.judgments.equals(before[1])
    assert ctx.options == before[2] and ctx.seed == before[3] and ctx.compare is not None


def test_options_are_read_only_but_copy_into_plain_values(pm) -> None:
    from rlaif_audit.auditing.readonly import context_view, frozen_context

    ctx = context(40)
    ctx.options["policy"] = {"samples": [{"text": "a", "tokens": [1, 2]}], "log": np.arange(3.0)}
    view = context_view(frozen_context(ctx))
    policy = view.options["policy"]
    with pytest.raises(TypeError, match="read-only"):
        policy["samples"][0]["tokens"].append(3)
    with pytest.raises(ValueError, match="read-only"):
        policy["log"][0] = 9.0
    own = dict(policy) | {"extra": 1}
    assert json.loads(json.dumps(policy["samples"])) == [{"text": "a", "tokens": [1, 2]}] and own["extra"] == 1
    import copy

    changeable = copy.deepcopy(view.options)
    changeable["policy"]["samples"][0]["tokens"].append(3)
    assert ctx.options["policy"]["samples"][0]["tokens"] == [1, 2]


def test_a_hanging_auditor_times_out_and_the_rest_goes_on(pm) -> None:
    pm.register(HostilePlugin(), name="hostile-plugin")
    started = time.perf_counter()
    outcomes = run_auditors(context(120), pm, ["aad-hangs", "agreement"], timeout=0.5)
    assert time.perf_counter() - started < 30
    hung = outcomes["aad-hangs"]
    assert (hung.status, hung.error) == ("error", "timed out after 0.5 s (audit --auditor-timeout; run: auditor_timeout)")
    assert outcomes["agreement"].status == "ok"


def test_sys_exit_and_keyboard_interrupt_are_that_auditors_error(pm) -> None:
    pm.register(HostilePlugin(), name="hostile-plugin")
    outcomes = run_auditors(context(120), pm, ["aab-exits", "aac-interrupts", "agreement"])
    assert outcomes["aab-exits"].status == "error" and "sys.exit(3)" in outcomes["aab-exits"].error
    assert outcomes["aac-interrupts"].status == "error" and "KeyboardInterrupt" in outcomes["aac-interrupts"].error
    assert outcomes["agreement"].status == "ok"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plugin manager the CLI builds holds the hostile plugin, as an installed entry point would."""
    import rlaif_audit.host as host

    fresh = host.get_plugin_manager

    def with_plugin(*args: Any, **kwargs: Any) -> Any:
        pm = fresh(*args, **kwargs)
        pm.register(HostilePlugin(), name="hostile-plugin")
        return pm

    monkeypatch.setattr(host, "get_plugin_manager", with_plugin)


def test_the_audit_command_writes_the_report_despite_exit_interrupt_and_hang(installed: None, tmp_path: Path) -> None:
    from rlaif_audit.cli import build_cli

    judgments, out = tmp_path / "j.jsonl", tmp_path / "report"
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["label", "demo", "-e", "synthetic", "-o", str(judgments), "-q"]).exit_code == 0
    result = runner.invoke(build_cli(), ["audit", str(judgments), "--data", "demo", "-o", str(out), "--n-bootstrap",
                                         "30", "--auditor-timeout", "1", "--auditors",
                                         "aab-exits,aac-interrupts,aad-hangs,agreement"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    statuses = {name: (entry["status"], entry.get("error", "")) for name, entry in report["auditors"].items()}
    assert statuses["aab-exits"][0] == statuses["aac-interrupts"][0] == statuses["aad-hangs"][0] == "error"
    assert statuses["aad-hangs"][1].startswith("timed out after 1 s")
    assert statuses["agreement"][0] == "ok"
    assert "auditor_timeout" not in report["config"], "a time limit changes no number: not part of the config hash"
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


HANGING_AUDIT = """
import sys, threading
import rlaif_audit.host as host
from rlaif_audit import hookimpl
from rlaif_audit.auditing.auditor import Auditor

class Hangs(Auditor):
    name = "hangs"
    description = "waits forever"
    def audit(self, ctx):
        print("auditing", flush=True)
        threading.Event().wait()

class Plugin:
    @hookimpl
    def register_auditors(self, register):
        register(Hangs)

fresh = host.get_plugin_manager
def with_plugin(*args, **kwargs):
    pm = fresh(*args, **kwargs)
    pm.register(Plugin(), name="hanging-plugin")
    return pm
host.get_plugin_manager = with_plugin
from rlaif_audit.cli import main
main(sys.argv[1:])
"""


def test_ctrl_c_during_a_hanging_auditor_stops_the_audit_cleanly(tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT) is the user's, not the auditor's: the command stops at once, no traceback, and no
    report file is half-written (the atomic writes leave nothing)."""
    import os
    import signal
    import subprocess
    import sys

    from rlaif_audit.cli import build_cli

    judgments, out = tmp_path / "j.jsonl", tmp_path / "report"
    assert CliRunner().invoke(build_cli(), ["label", "demo", "-e", "synthetic", "-o", str(judgments), "-q"]).exit_code == 0
    process = subprocess.Popen([sys.executable, "-c", HANGING_AUDIT, "audit", str(judgments), "--data", "demo", "-o",
                                str(out), "--auditors", "hangs", "--n-bootstrap", "10"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "auditing"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "Aborted!" in stderr and "Traceback" not in stderr, stderr
    assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == []
