"""The report builder: auditors run one at a time, report.json shape, formats written atomically, escaping."""

from __future__ import annotations

import json
import math
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from rlaif_audit import hookimpl
from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult, Metric
from rlaif_audit.errors import PluginError
from rlaif_audit.auditing.runner import run_auditors, unmet_requirement
from rlaif_audit.records.provenance import stable_hash
from rlaif_audit.reporting.builder import REVIEW_QUEUE_FILE, build_report, write_report
from rlaif_audit.reporting.format import ReportFormat
from rlaif_audit.reporting.report import Report
from rlaif_audit.records.types import PreferencePair

SCRIPT = "<script>alert(1)</script>"
EVIL_GENERATOR = '<img src=x onerror="alert(2)">'


# --------------------------------------------------------------------------------------------- test plugins


class GoodAuditor(Auditor):
    name = "test-good"
    description = "Counts the judged pairs."

    def audit(self, ctx: AuditContext) -> AuditResult:
        return AuditResult(metrics={"n_pairs": Metric(float(len(ctx.pairs)), (0.0, float(len(ctx.pairs))),
                                                     len(ctx.pairs), "exact")},
                           notes=["a note | with a pipe"])


class BoomAuditor(Auditor):
    name = "test-boom"
    description = "Always raises."

    def audit(self, ctx: AuditContext) -> AuditResult:
        return AuditResult(metrics={"x": Metric(1 / 0, None, 0)})


class NeedsOrdersAuditor(Auditor):
    name = "test-needs-orders"
    description = "Needs both orders and probabilities."
    requires = ("both_orders", "probabilities")

    def audit(self, ctx: AuditContext) -> AuditResult:
        return AuditResult(metrics={"ran": Metric(1.0, (1.0, 1.0), 1)})


class BrokenFormat(ReportFormat):
    name = "broken"
    filename = "broken.txt"

    def render(self, report: Report) -> str:
        raise RuntimeError("this format is broken")


class TestPlugin:
    @staticmethod
    @hookimpl
    def register_auditors(register):
        for cls in (GoodAuditor, BoomAuditor, NeedsOrdersAuditor):
            register(cls)

    @staticmethod
    @hookimpl
    def register_report_formats(register):
        register(BrokenFormat)


@pytest.fixture
def test_pm(pm):
    pm.register(TestPlugin, name="test-plugin")
    return pm


# ----------------------------------------------------------------------------------------------- contexts


def synthetic_inputs(n: int = 60, orders: tuple[str, ...] = ("ab", "ba")):
    """Synthetic pairs with human labels, judged by the synthetic evaluator (first-slot bias 1.0)."""
    from rlaif_audit.testing import make_synthetic_pairs, synthetic_frames, synthetic_judgments

    pairs, labels = make_synthetic_pairs(n, seed=3)
    frame, _ = synthetic_frames(n, seed=3)
    judgments = synthetic_judgments(frame, {"position_bias": 1.0, "noise": 0.5}, evaluator_id="syn-id")
    judgments = judgments[judgments["order"].isin(orders)].reset_index(drop=True)
    # pair 0: a response with a script tag, from a generator with markup in its name, judged a coin flip
    first = pairs[0]
    pairs[0] = PreferencePair(first.id, first.context, SCRIPT + " hello", first.b,
                              {**first.metadata, "generator_a": EVIL_GENERATOR, "generator_b": "base"})
    for index in range(1, n):
        pairs[index] = PreferencePair(pairs[index].id, pairs[index].context, pairs[index].a, pairs[index].b,
                                      {**pairs[index].metadata, "generator_a": "model-x", "generator_b": "base"})
    judgments.loc[judgments["pair_id"] == first.id, ["p_first", "verdict"]] = [0.5, "tie"]
    return pairs, judgments, labels


def make_ctx(n: int = 60, orders: tuple[str, ...] = ("ab", "ba"), labels: bool = True) -> tuple[AuditContext, list]:
    from rlaif_audit.auditing.context import build_context

    pairs, judgments, human = synthetic_inputs(n, orders)
    ctx = build_context(judgments, pairs, human if labels else [], seed=0, n_bootstrap=200,
                        options={"review_budget": 10})
    return ctx, pairs


def make_report(pm, **kwargs) -> Report:
    ctx, pairs = make_ctx(**kwargs)
    results = run_auditors(ctx, pm)
    return build_report(ctx, results, pairs=pairs, config={"judgments": "j.jsonl", "seed": 0},
                        data_source="synthetic", data_hash="abc123", title=f"Audit of {SCRIPT}")


# ------------------------------------------------------------------------------------------ running auditors


def test_an_auditor_that_raises_is_recorded_and_the_others_still_run(test_pm):
    ctx, _ = make_ctx()
    results = run_auditors(ctx, test_pm, ["test-boom", "test-good", "agreement"])
    assert list(results) == ["test-boom", "test-good", "agreement", "win-rates"]  # a section's auditor always runs
    boom = results["test-boom"]
    assert boom.status == "error" and boom.error == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in boom.traceback and "1 / 0" in boom.traceback
    assert results["test-good"].status == "ok"
    assert results["test-good"].to_dict()["metrics"]["n_pairs"] == {"value": 60.0, "ci": [0.0, 60.0], "n": 60,
                                                                     "method": "exact"}
    assert results["agreement"].status == "ok"
    assert results["test-good"].plugin == "test-plugin" and results["test-boom"].seconds >= 0


def test_unmet_requirements_skip_with_a_reason(test_pm):
    ctx, _ = make_ctx(orders=("ab",))
    results = run_auditors(ctx, test_pm, ["test-needs-orders", "position"])
    for name in ("test-needs-orders", "position"):
        assert results[name].status == "skipped"
        assert "only one order" in results[name].reason
    both, _ = make_ctx()
    assert run_auditors(both, test_pm, ["test-needs-orders"])["test-needs-orders"].status == "ok"


def test_requirement_checks_each_name_what_is_missing():
    with_all, _ = make_ctx()
    assert unmet_requirement(with_all, ("human", "both_orders", "probabilities", "generators")) is None
    no_labels, _ = make_ctx(labels=False)
    assert "no human labels" in unmet_requirement(no_labels, ("human",))
    verdicts_only = AuditContext(pairs=with_all.pairs.assign(prob_ab=False, prob_ba=False),
                                 judgments=with_all.judgments, labels=with_all.labels)
    assert "verdicts only" in unmet_requirement(verdicts_only, ("probabilities",))
    no_generators = AuditContext(pairs=with_all.pairs.assign(generator_a=None), judgments=with_all.judgments,
                                 labels=with_all.labels)
    assert "generators" in unmet_requirement(no_generators, ("generators",))


def test_unknown_auditor_names_the_valid_ones(pm):
    ctx, _ = make_ctx(n=10)
    with pytest.raises(PluginError, match=r"Auditor 'nope' not found\. Available: .*agreement"):
        run_auditors(ctx, pm, ["nope"])


# ------------------------------------------------------------------------------------------- report shape


def test_report_json_shape(test_pm):
    report = make_report(test_pm).to_dict()
    for key in ("schema_version", "tool", "versions", "config", "config_hash", "evaluator", "data", "judgments",
                "seed", "n_bootstrap", "created_at", "auditors", "generators", "headline", "review_queue",
                "method_notes", "report_errors"):
        assert key in report, key
    assert report["schema_version"] == "1.0"
    assert {"python", "rlaif-audit", "torch", "transformers", "trl"} <= set(report["versions"])
    assert report["config_hash"] == stable_hash({"judgments": "j.jsonl", "seed": 0})
    assert report["evaluator"] == {"name": "synthetic", "names": ["synthetic"], "identity_hashes": ["syn-id"]}
    data = report["data"]
    assert (data["n_pairs"], data["n_judgments"], data["hash"]) == (60, 120, "abc123")
    datetime.fromisoformat(report["created_at"])
    metrics_seen = 0
    for name, result in report["auditors"].items():
        assert result["status"] in ("ok", "skipped", "error"), name
        for metric_name, metric in result["metrics"].items():
            assert set(metric) >= {"value", "ci", "n"}, (name, metric_name)
            assert metric["ci"] is None or len(metric["ci"]) == 2
            assert isinstance(metric["n"], int)
            metrics_seen += 1
    assert metrics_seen > 20
    assert report["headline"] and all({"key", "value", "ci", "n"} <= set(row) for row in report["headline"])
    assert "agreement.accuracy_without_ties" in [row["key"] for row in report["headline"]]
    json.loads(json.dumps(report, allow_nan=False))  # strict JSON: no NaN anywhere


def test_generator_win_rates_use_the_debiased_preference(test_pm):
    ctx, pairs = make_ctx()
    report = build_report(ctx, run_auditors(ctx, test_pm, ["win-rates"]), pairs=pairs).to_dict()
    rows = {row["generator"]: row for row in report["generators"]["head_to_head"]}
    model_x = rows["model-x"]
    assert model_x["baseline"] == "base"
    p_a = ctx.pairs.set_index("pair_id")["p_a"]
    expected = [100 * p_a[p.id] for p in pairs[1:]]  # model-x is A: its score is the debiased P(A ≻ B)
    assert model_x["win_rate"] == pytest.approx(sum(expected) / len(expected))
    assert model_x["n_total"] == 59 and rows[EVIL_GENERATOR]["n_total"] == 1


def test_no_generators_means_win_rates_are_skipped(pm):
    ctx, pairs = make_ctx(n=10)
    plain = [PreferencePair(p.id, p.context, p.a, p.b, {}) for p in pairs]
    no_generators = ctx.__class__(pairs=ctx.pairs.drop(columns=["generator_a", "generator_b"]),
                                  judgments=ctx.judgments, labels=ctx.labels)
    report = build_report(no_generators, run_auditors(no_generators, pm, ["win-rates"]), pairs=plain).to_dict()
    assert report["generators"]["status"] == "skipped"


# ------------------------------------------------------------------------------------------------- writing


def test_a_failing_format_is_recorded_and_the_others_are_written(test_pm, tmp_path):
    report = make_report(test_pm)
    written = write_report(report, tmp_path / "out", test_pm)
    assert {"json", "markdown", "html", "review_queue"} <= set(written) and "broken" not in written
    assert not (tmp_path / "out" / "broken.txt").exists()
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["report_errors"] == [{"format": "broken", "plugin": "test-plugin",
                                         "error": "RuntimeError: this format is broken"}]
    assert "broken" in (tmp_path / "out" / "report.md").read_text() or on_disk["report_errors"]
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == [], "no temp files left"


def test_unknown_format_names_the_valid_ones(pm, tmp_path):
    with pytest.raises(PluginError, match="Report format 'pdf' not found. Available: html, json, markdown"):
        write_report(Report(), tmp_path, pm, ["pdf"])


def test_review_queue_jsonl_has_one_task_per_line(test_pm, tmp_path):
    report = make_report(test_pm)
    write_report(report, tmp_path, test_pm, ["json"])
    lines = (tmp_path / REVIEW_QUEUE_FILE).read_text(encoding="utf-8").splitlines()
    tasks = [json.loads(line) for line in lines]
    assert 0 < len(tasks) <= 10
    for rank, task in enumerate(tasks, start=1):
        assert {"pair_id", "context", "a", "b", "p_a", "reason", "rank"} <= set(task)
        assert task["rank"] == rank and isinstance(task["context"], list)
    assert tasks[0]["a"] == SCRIPT + " hello", "the coin-flip pair is the most uncertain"


def test_html_escapes_model_and_user_text(test_pm, tmp_path):
    report = make_report(test_pm)
    write_report(report, tmp_path, test_pm, ["html"])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hello" in page
    assert "<script" not in page.lower(), "no script element at all, escaped or injected"
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page  # Jinja2 (markupsafe) writes " as &#34;
    assert "onerror=" not in page.replace("onerror=&#34;", "")


class TagCollector(HTMLParser):
    """Every start tag with its attributes, and the text inside <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def test_html_is_self_contained(test_pm, tmp_path):
    report = make_report(test_pm)
    page = write_report(report, tmp_path, test_pm, ["html"])["html"].read_text(encoding="utf-8")
    assert page.count("<svg") >= 3, "reliability diagram, MT-Bench stacked bar, length curve"
    assert "MT-Bench position table" in page and "reliability" in page and "length curve" in page
    parsed = TagCollector()
    parsed.feed(page)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "image", "use", "base", "form"}
    for tag, attrs in parsed.tags:
        assert not set(attrs) & {"src", "href", "xlink:href", "srcset", "action", "onerror", "onload"}, tag
        assert "url(" not in str(attrs.get("style", ""))
    assert "url(" not in parsed.style and "@import" not in parsed.style and "@font-face" not in parsed.style
    csp = [attrs for tag, attrs in parsed.tags
           if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_markdown_report_sections(test_pm, tmp_path):
    from rlaif_audit.reporting.text import model_card_section

    report = make_report(test_pm)
    write_report(report, tmp_path, test_pm, ["markdown"])
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    for heading in ("## Headline", "## Generator win rates", "## Auditors", "### agreement",
                    "## Skipped and failed auditors", "## Method notes", "## Reproducibility",
                    "## Model card section"):
        assert heading in text, heading
    assert "| Metric | Value | 95% CI | n |" in text
    assert "**test-boom** — error: ZeroDivisionError: division by zero" in text
    assert "a note \\| with a pipe" in text
    assert "<script" not in text.lower() and "&lt;script&gt;" in text
    assert model_card_section(report) in text


def test_model_card_section_is_standalone_markdown(test_pm):
    from rlaif_audit.reporting.text import model_card_section

    report = make_report(test_pm)
    card = model_card_section(report)
    assert card.startswith("## AI evaluator audit (rlaif-audit)")
    first_row = report.headline[0]
    assert f"| {first_row.key} |" in card and "| Metric | Value | 95% CI | n |" in card
    assert "syn-id" in card and "test-boom" in card


# --------------------------------------------------------------------------------------------------- plots


def figure_of(kind: str, data, title: str = "figure"):
    """The matplotlib figure and the inline SVG of one figure's data."""
    from rlaif_audit.reporting.figures import FigureSpec, draw, figure_svg

    spec = FigureSpec("test", "figure", kind, title, data)
    return draw(spec.plot()), figure_svg(spec)


def test_plots_from_auditor_data():
    reliability, svg = figure_of("reliability", {"bins": [
        {"lo": 0.0, "hi": 0.5, "conf": 0.3, "acc": 0.4, "count": 12}, {"lo": 0.5, "hi": 1.0, "conf": 0.8, "acc": 0.7,
                                                                        "count": 30}]})
    axes = reliability.axes[0]
    (bins,) = [line for line in axes.lines if line.get_label() == "judge bins"]
    assert list(bins.get_xdata()) == [0.3, 0.8] and list(bins.get_ydata()) == [0.4, 0.7]
    assert [line.get_linestyle() for line in axes.lines].count("--") == 1, "the diagonal"
    assert "n = 30" in svg and "n = 12" in svg and axes.get_xlim() == (0.0, 1.0)
    _, position = figure_of("stacked-bars", [{"category": "consistent", "share": 0.6},
                                             {"category": "biased_first", "share": 0.4}])
    assert "60.0%" in position and "40.0%" in position and "MT-Bench paper" not in position
    _, mt_bench = figure_of("mt-bench", [{"category": "consistent", "share": 0.6}])
    assert "60.0%" in mt_bench and "GPT-4 (MT-Bench paper)" in mt_bench and "65.0%" in mt_bench
    curve, svg = figure_of("curve", {"x": "len_a - len_b", "y": "P(prefer A)", "points": [
        {"bucket": "(-inf, -30]", "n": 4, "judge_p_a": 0.2, "human_p_a": 0.4},
        {"bucket": "(-30, 30]", "n": 9, "judge_p_a": 0.5, "human_p_a": math.nan},
        {"bucket": "(30, inf]", "n": 5, "judge_p_a": 0.9, "human_p_a": 0.6}]})
    axes = curve.axes[0]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["(-inf, -30]", "(-30, 30]", "(30, inf]"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["judge", "humans"]
    assert sum(len(line.get_xdata()) for line in axes.lines) == 5, "3 judge points, 2 human (NaN left out)"
    assert "(-30, 30]" in svg and ">judge<" in svg and ">humans<" in svg
    assert axes.get_xlabel() == "len_a - len_b" and axes.get_ylabel() == "P(prefer A)"


def test_figure_text_is_escaped_in_the_svg():
    _, svg = figure_of("line", {"series": [{"name": SCRIPT, "x": [0, 1], "y": [0.2, 0.4]}]}, title=f"$x$ {SCRIPT}")
    assert "<script" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "$x$ &lt;script&gt;" in svg, "a dollar sign is text, not mathtext"


@pytest.mark.parametrize("junk", [{}, [], {"bins": "x"}, {"points": [1, 2]}, {"x": [1], "y": ["a"]},
                                  {"kind": "reliability", "bins": [{"conf": None}]}, "text", None])
def test_figures_with_odd_data_render_nothing_instead_of_raising(junk):
    from rlaif_audit.reporting.figures import FigureSpec, figure_svg
    from rlaif_audit.reporting.chart_data import PLOT_KINDS

    for kind in [*PLOT_KINDS, "unknown-kind"]:
        spec = FigureSpec("test", "whatever", kind, "whatever", junk)
        assert spec.plot() is None and figure_svg(spec) == "", kind


def test_report_of_a_real_run_reads_from_disk(test_pm, tmp_path):
    report = make_report(test_pm)
    paths = write_report(report, tmp_path, test_pm)
    assert Path(paths["json"]).name == "report.json"
    data = json.loads(paths["json"].read_text())
    frame = pd.DataFrame(data["headline"])
    assert frame["n"].min() > 0


def test_writing_one_report_to_two_folders_records_each_failure_once(test_pm, tmp_path):
    report = make_report(test_pm)
    report.run = {"stages": [{"stage": "generate", "seconds": 1.5}]}
    for folder in ("audit", "policy"):
        write_report(report, tmp_path / folder, test_pm)
        on_disk = json.loads((tmp_path / folder / "report.json").read_text())
        assert len(on_disk["report_errors"]) == 1
    assert "## Run" in (tmp_path / "policy" / "report.md").read_text()
    assert 'id="run"' in (tmp_path / "policy" / "report.html").read_text()


def test_headline_names_metrics_the_auditors_really_produce(pm):
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.host import auditors
    from rlaif_audit.testing import make_synthetic_pairs, synthetic_frames, synthetic_judgments

    pairs, labels = make_synthetic_pairs(300, seed=5, n_annotators=3)
    frame, _ = synthetic_frames(300, seed=5, n_annotators=3)
    judgments = synthetic_judgments(frame, {"position_bias": 0.5}, evaluator_id="syn")
    ctx = build_context(judgments, pairs, labels, n_bootstrap=100)
    report = build_report(ctx, run_auditors(ctx, pm), pairs=pairs, config={}, data_source="synthetic",
                          data_hash="h").to_dict()
    registry = auditors(pm)
    declared = {name: registry.get(name).headline for name in registry.names() if registry.get(name).headline}
    evaluator_side = {"agreement", "calibration", "length", "position"}
    assert evaluator_side <= set(declared)
    for auditor in evaluator_side:
        produced = report["auditors"][auditor]["metrics"]
        missing = [name for name in declared[auditor] if name not in produced]
        assert not missing, f"headline names {missing} that auditor '{auditor}' does not produce"
    # two declared metrics per auditor that ran, in auditor order (the policy auditors are skipped outside a run)
    assert [row["key"] for row in report["headline"]] == [
        "agreement.accuracy_without_ties", "agreement.cohen_kappa", "calibration.ece_equal_width",
        "calibration.ece_equal_mass", "length.longer_excess", "length.length_coef", "position.consistent",
        "position.first_slot_preference"]
