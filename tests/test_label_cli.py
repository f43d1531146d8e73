"""`rlaif-audit label` as a user runs it: summary, bad input, resume after kill -9, identity mixing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlaif_audit.data.judgment_file import read_judgments

CLI = [sys.executable, "-m", "rlaif_audit.cli"]


def label(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + ["label", *args], capture_output=True, text=True, timeout=600, **kwargs)


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_label_demo_pairs_prints_summary(tmp_path: Path, tiny_model: str) -> None:
    out = tmp_path / "j.jsonl"
    result = label(["demo", "-e", "hf-judge", "-O", f"model={tiny_model}", "-o", str(out), "-q"])
    assert result.returncode == 0, result.stderr
    frame = read_judgments(out)
    assert len(frame) == 48 and set(frame.order) == {"ab", "ba"}
    assert frame.p_first.between(0, 1).all()
    assert "pairs: 24" in result.stdout and "judgments: 48 (48 new" in result.stdout
    assert "agreement with humans" in result.stdout and "n=" in result.stdout


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "chosen": "x", "rejected": "y"}\n{"prompt": "hi", "chosen": "x"}\n')
    out = tmp_path / "j.jsonl"
    result = label([str(bad), "-e", "hf-judge", "-O", f"model={tiny_model}", "-o", str(out), "-q"])
    assert result.returncode == 2
    assert f"{bad}:2: field 'rejected'" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    skipped = label([str(bad), "-e", "hf-judge", "-O", f"model={tiny_model}", "-o", str(out), "-q", "--on-error", "skip"])
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped input rows: 1" in skipped.stdout and count_lines(out) == 2


def test_unknown_evaluator_and_option_name_the_choices(tmp_path: Path) -> None:
    result = label(["demo", "-e", "nope", "-o", str(tmp_path / "j.jsonl")])
    assert result.returncode == 2 and "Evaluator 'nope' not found. Available:" in result.stderr
    assert "hf-judge" in result.stderr
    result = label(["demo", "-e", "hf-judge", "-O", "colour=red", "-o", str(tmp_path / "j.jsonl")])
    assert result.returncode == 2 and "no option colour" in result.stderr and "model" in result.stderr


def test_resume_after_kill_9_loses_nothing_and_writes_nothing_twice(tmp_path: Path, tiny_model: str, hh_path: Path) -> None:
    args = [str(hh_path), "-e", "hf-judge", "-O", f"model={tiny_model}", "--limit", "120", "-q"]
    killed = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(CLI + ["label", *args, "-o", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while count_lines(killed) == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written_before = count_lines(killed)
    assert 0 < written_before < 240, "the kill must land mid-run"
    before = killed.read_text().splitlines()

    resumed = label([*args, "-o", str(killed)])
    assert resumed.returncode == 0, resumed.stderr
    assert f"judgments: 240 ({240 - written_before} new" in resumed.stdout
    assert killed.read_text().splitlines()[:written_before] == before  # nothing rewritten

    fresh = tmp_path / "fresh.jsonl"
    assert label([*args, "-o", str(fresh)]).returncode == 0
    got, want = read_judgments(killed), read_judgments(fresh)
    assert len(got) == 240 and not got.duplicated(["pair_id", "order"]).any()
    merged = got.merge(want, on=["pair_id", "order"], suffixes=("", "_fresh"))
    assert len(merged) == 240
    assert (merged.p_first - merged.p_first_fresh).abs().max() < 1e-4


def test_other_evaluator_identity_is_refused(tmp_path: Path, tiny_model: str) -> None:
    out = tmp_path / "j.jsonl"
    assert label(["demo", "--limit", "2", "-e", "hf-judge", "-O", f"model={tiny_model}", "-o", str(out), "-q"]).returncode == 0
    template = tmp_path / "t.txt"
    template.write_text("Which is better? {conversation}\nA: {first}\nB: {second}\nAnswer:")
    before = out.read_text()
    result = label(["demo", "--limit", "2", "-e", "hf-judge", "-O", f"model={tiny_model}", "-O", f"template={template}",
                    "-o", str(out), "-q"])
    assert result.returncode == 2 and "identity" in result.stderr
    assert out.read_text() == before
