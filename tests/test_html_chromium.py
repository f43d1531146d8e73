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


# ------------------------------------------------------------------------- hostile text: nothing in it ever runs

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def dom_title(page: Path, tmp_path: Path) -> str:
    """The page's <title> after Chromium loaded it and ran whatever would run (a script setting document.title)."""
    result = chromium(page, tmp_path, "--dump-dom", "--virtual-time-budget=3000")
    assert result.returncode == 0, result.stderr[-2000:]
    found = TITLE.search(result.stdout)
    assert found, result.stdout[:2000]
    return found.group(1)


@pytest.fixture(scope="module")
def hostile_html(tmp_path_factory) -> Path:
    """A report of pairs whose every shown field carries payloads that set document.title if they ever ran."""
    from hostile_text import EVERYTHING, write_hostile_pairs
    from rlaif_audit.cli import build_cli

    folder = tmp_path_factory.mktemp("hostile")
    pairs, judgments, out = write_hostile_pairs(folder / "pairs.jsonl"), folder / "j.jsonl", folder / "report"
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["label", str(pairs), "-e", "synthetic", "-O", "noise=1", "-o", str(judgments),
                                       "-q"]).exit_code == 0
    result = runner.invoke(build_cli(), ["audit", str(judgments), "--data", str(pairs), "-o", str(out),
                                         "--n-bootstrap", "30", "--review-budget", "8", "--title", f"Audit {EVERYTHING}"])
    assert result.exit_code == 0, result.output
    return out / "report.html"


def test_hostile_payloads_never_run_in_the_browser(hostile_html, tmp_path):
    from hostile_text import PWNED

    title = dom_title(hostile_html, tmp_path)
    assert title != PWNED and title.startswith("Audit &lt;script&gt;document.title="), title[:200]


def test_the_payload_does_run_on_a_plain_page_and_the_reports_csp_blocks_it(hostile_html, tmp_path):
    """The controls: the same payloads unescaped set the title (so the check above can fail); under the report's
    Content-Security-Policy they do not (a second wall behind the escaping)."""
    from hostile_text import EVENTS, PWNED, SCRIPT

    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', hostile_html.read_text(encoding="utf-8"))
    assert csp is not None
    body = f"<body><p>{SCRIPT}{EVENTS}</p></body>"
    plain, guarded = tmp_path / "plain.html", tmp_path / "guarded.html"
    plain.write_text(f"<!DOCTYPE html><html><head><title>original</title></head>{body}</html>", encoding="utf-8")
    guarded.write_text(f"<!DOCTYPE html><html><head>{csp.group()}<title>original</title></head>{body}</html>",
                       encoding="utf-8")
    assert dom_title(plain, tmp_path / "a") == PWNED
    assert dom_title(guarded, tmp_path / "b") == "original"
