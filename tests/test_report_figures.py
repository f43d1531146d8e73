"""The report's figures (matplotlib: inline SVG, PNG files), the Jinja2 page, and the typed Report's JSON round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rlaif_audit.reporting.figures import FigureSpec, figure_svg, write_png
from rlaif_audit.reporting.chart_data import PLOT_KINDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"
KIND_DATA = {
    "reliability": {"bins": [{"conf": 0.2, "acc": 0.3, "count": 5}, {"conf": 0.7, "acc": 0.6, "count": 9}]},
    "curve": {"x": "len_a − len_b", "y": "P(prefer A)", "points": [
        {"bucket": "(-inf, -30]", "n": 4, "judge_p_a": 0.3}, {"bucket": "(-30, 30]", "n": 6, "judge_p_a": 0.5}]},
    "line": {"x_label": "optimiser step", "y_label": "reward", "series": [
        {"name": "reward", "x": [0, 1, 2], "y": [0.1, 0.4, 0.5], "low": [0.0, 0.3, 0.4], "high": [0.2, 0.5, 0.6]}]},
    "stacked-bars": [{"category": "consistent", "share": 0.7}, {"category": "biased_first", "share": 0.3}],
    "mt-bench": [{"category": "consistent", "share": 0.5}, {"category": "biased_second", "share": 0.5}],
    "position": {"consistent": 0.6, "biased_first": 0.4},
    "stacked_bar": {"consistent": {"value": 0.2}, "error": {"value": 0.8}},
    "bars": {"labels": ["gen-0/generate", "gen-0/label"], "values": [67.0, 40.5], "x_label": "seconds"},
}


def test_every_plot_kind_has_an_example() -> None:
    assert set(KIND_DATA) == set(PLOT_KINDS)


@pytest.mark.parametrize("kind", sorted(KIND_DATA))
def test_a_figure_of_each_kind_renders_as_svg_and_png(kind: str, tmp_path: Path) -> None:
    spec = FigureSpec("some-auditor", f"figure {kind}", kind, f"a {kind} figure", KIND_DATA[kind])
    svg = figure_svg(spec)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG_NS}svg" and root.get("aria-label") == f"a {kind} figure"
    tags = {element.tag.removeprefix(SVG_NS) for element in root.iter()}
    assert not tags & {"use", "image", "script", "a", "foreignObject"}, "nothing that could point outside the page"
    assert "href" not in svg and f"a {kind} figure" in svg
    ids = [element.get("id") for element in root.iter() if element.get("id")]
    assert all(ident.startswith("some-auditor-figure_") for ident in ids), "ids unique across figures"
    relative = write_png(spec, tmp_path)
    assert relative == f"figures/some-auditor-figure_{kind}.png"
    png = (tmp_path / relative).read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 5_000


@pytest.fixture
def written_report(pm, tmp_path: Path) -> tuple[dict, Path]:
    """A synthetic audit written in every format (figures of calibration, length and position)."""
    from test_report import make_report

    from rlaif_audit.reporting.builder import write_report

    report = make_report(pm)
    write_report(report, tmp_path, pm)
    return report.to_dict(), tmp_path


def test_report_md_links_the_png_figures_written_beside_it(written_report) -> None:
    report, folder = written_report
    text = (folder / "report.md").read_text(encoding="utf-8")
    expected = ["figures/calibration-reliability_equal_width.png", "figures/calibration-reliability_equal_mass.png",
                "figures/length-length_curve.png", "figures/position-mt_bench.png"]
    for relative in expected:
        assert f"]({relative})" in text, relative
        assert (folder / relative).read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in (folder / "figures").iterdir()) == sorted(Path(r).name for r in expected)
    assert "![MT-Bench position table (this judge vs published)](figures/position-mt_bench.png)" in text
    assert text.index("### calibration") < text.index("calibration-reliability_equal_width.png") < \
        text.index("### length")


def test_html_inlines_one_svg_per_figure_and_autoescapes_model_text(written_report) -> None:
    report, folder = written_report
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg ") == 4
    assert page.count('role="img"') == 4
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hello" in page and "<script" not in page.lower()
    assert "Audit of &lt;script&gt;" in page, "the title is escaped in <title>, <h1> and the model card"


def test_report_round_trips_through_json(written_report) -> None:
    from rlaif_audit.reporting.report import Report

    report, folder = written_report
    on_disk = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    loaded = Report.from_dict(on_disk)
    assert loaded.to_dict() == on_disk
    assert loaded.sections["generators"].status == "ok" and loaded.auditors["agreement"].status == "ok"
    assert loaded.headline[0].key == "agreement.accuracy_without_ties" and loaded.headline[0].n == 59  # one tie
    with pytest.raises(ValueError, match="unknown top-level keys: surprise"):
        Report.from_dict({**on_disk, "surprise": [1]})
    with pytest.raises(KeyError, match="headline"):
        Report.from_dict({k: v for k, v in on_disk.items() if k != "headline"})


def test_help_imports_neither_matplotlib_nor_jinja2() -> None:
    code = ("import sys\nfrom rlaif_audit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('matplotlib', 'jinja2', 'markupsafe') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
