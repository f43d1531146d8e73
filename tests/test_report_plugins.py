"""A third-party auditor declaring its own headline metrics and figure reaches the `audit` output and every report
format through the plugin hook alone: the host names no auditor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl
from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult, Metric

EXTERNAL = Path(__file__).parent / "data" / "external"
FASTCHAT = EXTERNAL / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl"
FASTCHAT_HUMAN = EXTERNAL / "mt_bench_human_judgments.json"


class PreferAAuditor(Auditor):
    """How often the judge's debiased preference leans to response A."""

    name = "prefer-a"
    description = "Share of pairs whose debiased P(A) is above one half (a third-party auditor)."
    headline = ("share_above_half", "mean_p_a")  # shown in this order, not the order the metrics are computed
    figure_kinds = {"sorted_p_a": "line"}

    def audit(self, ctx: AuditContext) -> AuditResult:
        p_a = sorted(float(p) for p in ctx.pairs["p_a"].dropna())
        above = sum(p > 0.5 for p in p_a)
        metrics = {"n_judged": Metric(float(len(p_a)), None, len(p_a), "count"),
                   "mean_p_a": Metric(sum(p_a) / len(p_a), (0.0, 1.0), len(p_a), "mean"),
                   "share_above_half": Metric(above / len(p_a), (0.0, 1.0), len(p_a), "share")}
        figure = {"title": "sorted debiased P(A)", "x_label": "pair (sorted)", "y_label": "P(A)",
                  "series": [{"name": "judge", "x": list(range(len(p_a))), "y": p_a}]}
        return AuditResult(metrics=metrics, figures={"sorted_p_a": figure})


class PreferAPlugin:
    @hookimpl
    def register_auditors(self, register: Callable[[type], None]) -> None:
        register(PreferAAuditor)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plugin manager the CLI builds holds the third-party plugin, as an installed entry point would."""
    import rlaif_audit.host as host

    fresh = host.get_plugin_manager

    def with_plugin(*args: Any, **kwargs: Any) -> Any:
        pm = fresh(*args, **kwargs)
        pm.register(PreferAPlugin(), name="rlaif-audit-prefer-a")
        return pm

    monkeypatch.setattr(host, "get_plugin_manager", with_plugin)


def test_a_third_party_auditor_reaches_the_output_and_the_reports(installed: None, tmp_path: Path) -> None:
    from rlaif_audit.cli import build_cli

    out = tmp_path / "report"
    result = CliRunner().invoke(build_cli(), ["audit", str(FASTCHAT), "--human", str(FASTCHAT_HUMAN), "-o", str(out),
                                              "--n-bootstrap", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    entry = report["auditors"]["prefer-a"]
    assert entry["status"] == "ok" and entry["plugin"] == "rlaif-audit-prefer-a"
    share = entry["metrics"]["share_above_half"]
    keys = [row["key"] for row in report["headline"]]
    assert [key for key in keys if key.startswith("prefer-a.")] == ["prefer-a.share_above_half", "prefer-a.mean_p_a"]
    assert keys.index("position.first_slot_preference") < keys.index("prefer-a.share_above_half") < \
        keys.index("win_rate.vicuna-13b-v1.3.vs.gpt-3.5-turbo"), "auditor rows in name order, then win rates"
    assert f"  prefer-a.share_above_half: {share['value']:.4g} [95% CI 0, 1] (n<30) n={share['n']}\n" in result.output  # marked: 7 pairs
    page = (out / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="auditor-prefer-a">'):]
    section = section[:section.index("</section>")]
    assert "share_above_half" in section and section.count("<svg ") == 1 and "sorted debiased P(A)" in section
    assert '<div class="k">prefer-a.share_above_half</div>' in page
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "![sorted debiased P(A)](figures/prefer-a-sorted_p_a.png)" in markdown
    assert (out / "figures" / "prefer-a-sorted_p_a.png").is_file()


@pytest.mark.parametrize("filename", ["../../escaped.txt", "/tmp/rlaif-audit-escaped.txt", "a/b/c.txt", "..",
                                      "", "sub\\..\\x.txt", ".hidden"])
def test_a_format_cannot_write_outside_the_report_folder(tmp_path: Path, filename: str) -> None:
    """A format whose file name leaves the folder is a recorded report error; the others are still written."""
    from rlaif_audit import hookimpl
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.builder import write_report
    from rlaif_audit.reporting.format import ReportFormat
    from rlaif_audit.reporting.report import Report

    class Escaper(ReportFormat):
        name = "escaper"
        description = "writes where it should not"

        def render(self, report: Report) -> str:
            return "escaped"

    Escaper.filename = filename

    class EscaperPlugin:
        @hookimpl
        def register_report_formats(self, register):
            register(Escaper)

    pm = get_plugin_manager()
    pm.register(EscaperPlugin(), name="escaper-plugin")
    folder = tmp_path / "deep" / "report"
    report = Report(title="t")
    written = write_report(report, folder, pm, ["escaper", "json"])
    assert "escaper" not in written and written["json"] == folder / "report.json"
    assert [(e.format, "refused to write" in e.error) for e in report.report_errors] == [("escaper", True)]
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/rlaif-audit-escaped.txt").exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["report.json", "review_queue.jsonl"]
