"""Hostile text in the data and plugin names stays inert in every report: no element, attribute, link or style it
could add, no hidden character left to reorder or hide what is shown, megabyte strings cut; the console too."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostile_text import EVERYTHING, HIDDEN, MEGABYTE, PWNED, write_hostile_pairs

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3", "p", "b", "i",
                "section", "div", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "details", "summary", "pre",
                "code", "br", "span"}
SVG_TAGS = {"svg", "g", "path", "defs", "clippath", "rect", "text", "tspan", "title", "desc", "style", "polyline",
            "line", "circle", "metadata", "use"}
LIVE_MARKDOWN = re.compile(r"(?<!\\)\]\((?:javascript:|https?:)|(?<!\\)\]:\s*javascript:|<(?:script|img|a |svg|style)")


def hidden_in(text: str) -> list[str]:
    """Characters of Unicode categories Cc (controls but tab and newline) and Cf (format: bidi, zero-width, tags)."""
    return sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs") and c not in "\t\n"
                   and c != "\u00ad"})


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An audit of pairs whose ids, texts, generator names and metadata are hostile, under a hostile title."""
    from rlaif_audit.cli import build_cli

    folder = tmp_path_factory.mktemp("hostile")
    pairs, judgments, out = write_hostile_pairs(folder / "pairs.jsonl"), folder / "j.jsonl", folder / "report"
    runner = CliRunner()
    labelled = runner.invoke(build_cli(), ["label", str(pairs), "-e", "synthetic", "-O", "noise=1", "-o",
                                           str(judgments), "-q"])
    assert labelled.exit_code == 0, labelled.output
    result = runner.invoke(build_cli(), ["audit", str(judgments), "--data", str(pairs), "-o", str(out),
                                         "--n-bootstrap", "30", "--title", f"Audit {EVERYTHING}"])
    assert result.exit_code == 0, result.output
    return out, result.output


class Elements(HTMLParser):
    """Start tags with their attributes, the text of <style> and <title>, outside and inside inline SVG."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {"style": "", "title": ""}
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[self.open.index(tag):]

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] in self.text and "svg" not in self.open:
            self.text[self.open[-1]] += data


def test_html_holds_no_element_attribute_or_style_from_the_data(hostile_report) -> None:
    page = (hostile_report[0] / "report.html").read_text(encoding="utf-8")
    parsed = Elements()
    parsed.feed(page)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS | SVG_TAGS
    for tag, attrs in parsed.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not [value for value in attrs.values() if value and "javascript:" in value.lower()], (tag, attrs)
    assert "</style>" not in parsed.text["style"] and "url(" not in parsed.text["style"] and PWNED not in parsed.text["style"]
    assert parsed.text["title"].startswith("Audit <script>document.title=")  # shown as text, escaped in the file
    assert page.count("<style>") == 1 and page.count("<title>") == 1
    metas = [attrs for tag, attrs in parsed.tags if tag == "meta"]
    assert len(metas) == 3 and "default-src 'none'" in metas[1]["content"]


@pytest.mark.parametrize("name", ["report.html", "report.md"])
def test_no_hidden_character_reaches_a_report_and_each_is_written_out(hostile_report, name: str) -> None:
    text = (hostile_report[0] / name).read_text(encoding="utf-8")
    assert hidden_in(text) == []
    assert "safe\\u202eevil\\u202c" in text and "\\u200bzero\\u200dwidth" in text and "\\U000e0041" in text
    assert "\\u001b[31mred" in text, "the terminal escape is written out"


def test_megabyte_strings_are_cut_in_the_readable_reports(hostile_report) -> None:
    folder = hostile_report[0]
    html, markdown = (folder / "report.html").stat().st_size, (folder / "report.md").stat().st_size
    assert html < 2_000_000 and markdown < 500_000, (html, markdown)
    assert "more characters: report.json holds the whole text" in (folder / "report.html").read_text(encoding="utf-8")
    queue = (folder / "review_queue.jsonl").read_text(encoding="utf-8")
    assert MEGABYTE in queue, "the data files keep every character"


def test_markdown_has_no_live_link_image_reference_or_html(hostile_report) -> None:
    text = (hostile_report[0] / "report.md").read_text(encoding="utf-8")
    outside_code = re.sub(r"(?ms)^```.*?^```", "", text)
    assert LIVE_MARKDOWN.search(outside_code) is None, LIVE_MARKDOWN.search(outside_code)
    assert "\\](javascript:" in outside_code, "the hostile link is shown, escaped"
    card = text[text.index("## AI evaluator audit (rlaif-audit)"):]
    assert LIVE_MARKDOWN.search(card) is None


def test_the_console_summary_writes_hidden_characters_out(hostile_report) -> None:
    output = hostile_report[1]
    assert hidden_in(output) == [] and "\x1b" not in output
    assert "gen-b safe\\u202eevil" in output


def test_text_helpers_known_answers() -> None:
    from rlaif_audit.reporting.text import md_cell, shown, visible

    assert visible("a\u202eb\U000e0041\x1b\tc\n") == "a\\u202eb\\U000e0041\\u001b\tc\n"
    assert visible(HIDDEN) == visible(visible(HIDDEN)), "idempotent"
    assert md_cell("[x](javascript:y) [r]: z ![i](https://t) [0.1, 0.2] (n<30)") == \
        "[x\\](javascript:y) [r\\]: z ![i\\](https://t) [0.1, 0.2] (n&lt;30)"
    assert shown("x" * 30, limit=10) == "x" * 10 + " … [20 more characters: report.json holds the whole text]"
    assert shown("x" * 10, limit=10) == "x" * 10
