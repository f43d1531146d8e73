"""report.html in a real browser (headless Chromium): no console errors, no requests, escaped model text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

EXTERNAL = Path(__file__).parent / "data" / "external"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]
BROWSER_PROBLEMS = re.compile(r"CONSOLE|Uncaught|Refused to|net::ERR_|Content Security Policy|Failed to load", re.I)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    """A real report: AlpacaEval annotations whose model output holds a <script> tag, with human labels."""
    from rlaif_audit.cli import build_cli

    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(build_cli(), [
        "audit", str(EXTERNAL / "alpaca_eval_annotations.json"), "--human", str(EXTERNAL / "alpaca_eval_human.json"),
        "--review-budget", "8", "--n-bootstrap", "100", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out / "report.html"
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in page.read_text(encoding="utf-8"), "the pair is a confident disagreement with the human"
    return page


def chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def test_report_renders_without_console_errors_and_keeps_scripts_as_text(report_html, tmp_path):
    result = chromium(report_html, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "Evaluator audit" in dom and "Generator win rates" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt; leaves fall" in dom, "the response is shown as text"
    assert "<script" not in dom.lower(), "the browser built no script element"
    problems = [line for line in result.stderr.splitlines() if BROWSER_PROBLEMS.search(line)]
    assert problems == []


def test_report_screenshot_is_drawn(report_html, tmp_path):
    shot = tmp_path / "report.png"
    result = chromium(report_html, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", "--hide-scrollbars")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
