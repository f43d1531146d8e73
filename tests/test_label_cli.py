"""`rlaif-audit label` as a user runs it: summary, agreement, bad input, resume after kill -9, identity mixing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from statistics import NormalDist

from rlaif_audit.data.judgment_file import read_judgments

CLI = [sys.executable, "-m", "rlaif_audit.cli"]
AGREEMENT_LINE = re.compile(r"agreement with humans \(debiased, ties excluded\), agreement.accuracy_without_ties: "
                            r"(\d(?:\.\d+)?) \[95% CI (\d(?:\.\d+)?), (\d(?:\.\d+)?)\](?: \([^)]*\))? n=(\d+)\n")
VOTE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def label(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + ["label", *args], capture_output=True, text=True, timeout=600, **kwargs)


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def hf_judge(model: str) -> list[str]:
    return ["-e", "hf-judge", "-O", f"model={model}"]


def printed_agreement(stdout: str) -> tuple[str, float, float, int]:
    """The agreement line of the summary: value (as printed), CI bounds and n."""
    match = AGREEMENT_LINE.search(stdout)
    assert match, stdout
    return match.group(1), float(match.group(2)), float(match.group(3)), int(match.group(4))


def wilson(hits: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval, from its formula."""
    z = NormalDist().inv_cdf(0.975)
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (share * (1 - share) / n + z * z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def counted_agreement(judgments: Path, votes: dict[str, list[str]]) -> tuple[int, int]:
    """(hits, n) counted from the raw judgment lines: debiased P(A) against the human share preferring A,
    pairs where either is exactly ½ left out."""
    p_first = {}
    for line in judgments.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        p_first[record["pair_id"], record["order"]] = record["p_first"]
    hits = n = 0
    for pair_id, pair_votes in votes.items():
        judge_a = (p_first[pair_id, "ab"] + 1.0 - p_first[pair_id, "ba"]) / 2
        human_a = sum(VOTE[vote] for vote in pair_votes) / len(pair_votes)
        if judge_a != 0.5 and human_a != 0.5:
            n += 1
            hits += (judge_a > 0.5) == (human_a > 0.5)
    return hits, n


def assert_printed_agreement(stdout: str, hits: int, n: int) -> None:
    """The printed value is the count's share; its interval is the audit's bootstrap one (the same line as
    `rlaif-audit audit` prints: tests/test_polish.py), about as wide as the Wilson interval of the count."""
    value, low, high, printed_n = printed_agreement(stdout)
    assert (value, printed_n) == (f"{hits / n:.4g}", n)
    expected_low, expected_high = wilson(hits, n)
    assert low <= hits / n <= high
    assert abs((high - low) - (expected_high - expected_low)) < 0.5 * (expected_high - expected_low), (low, high)


def test_label_demo_pairs_prints_summary(tmp_path: Path, tiny_model: str) -> None:
    from rlaif_audit.data.pairs import read_pairs

    out = tmp_path / "j.jsonl"
    result = label(["demo", *hf_judge(tiny_model), "-o", str(out), "-q"])
    assert result.returncode == 0, result.stderr
    frame = read_judgments(out)
    assert len(frame) == 48 and set(frame.order) == {"ab", "ba"}
    assert frame.p_first.between(0, 1).all()
    assert "pairs: 24" in result.stdout and "judgments: 48 (48 new" in result.stdout
    demo_votes = {label.pair_id: [label.preferred] for label in read_pairs("demo").labels}
    assert len(demo_votes) == 24
    assert_printed_agreement(result.stdout, *counted_agreement(out, demo_votes))


def agreement_pairs(path: Path) -> dict[str, list[str]]:
    """41 synthetic pairs with human votes that exercise every exclusion; returns each pair's votes.

    Every 8th pair has one 'tie' vote and the next one an a/b split (human share ½: left out); pairs 2, 10, …
    have a 2-to-1 majority for A, pairs 3, 11, … a b/tie pair of votes (share ¼); pair 4 shows the same text
    twice (the judge's debiased P(A) is exactly ½: left out); the rest keep their one synthetic label.
    """
    from rlaif_audit.records.fileio import write_jsonl
    from rlaif_audit.testing import make_synthetic_pairs

    pairs, labels = make_synthetic_pairs(41, seed=21)
    special = {0: ["tie"], 1: ["a", "b"], 2: ["a", "a", "b"], 3: ["b", "tie"]}
    rows, votes = [], {}
    for index, (pair, synthetic_label) in enumerate(zip(pairs, labels)):
        votes[pair.id] = special.get(index % 8, [synthetic_label.preferred])
        b = pair.a if index == 4 else pair.b
        rows.append({"id": pair.id, "context": pair.context, "a": pair.a, "b": b,
                     "labels": [{"annotator": f"h{k}", "preferred": v} for k, v in enumerate(votes[pair.id])]})
    write_jsonl(path, rows)
    return votes


def test_printed_agreement_matches_a_count_with_ties_and_several_annotators(tmp_path: Path) -> None:
    votes = agreement_pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "j.jsonl"
    result = label([str(tmp_path / "pairs.jsonl"), "-e", "synthetic", "-o", str(out), "-q"])
    assert result.returncode == 0, result.stderr
    hits, n = counted_agreement(out, votes)
    assert n == 41 - 6 - 5 - 1 and 0 < hits < n  # n odd: a hit rate of hits/n never equals its complement
    assert_printed_agreement(result.stdout, hits, n)


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "chosen": "x", "rejected": "y"}\n{"prompt": "hi", "chosen": "x"}\n')
    out = tmp_path / "j.jsonl"
    result = label([str(bad), *hf_judge(tiny_model), "-o", str(out), "-q"])
    assert result.returncode == 2
    assert f"{bad}:2: field 'rejected'" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    skipped = label([str(bad), *hf_judge(tiny_model), "-o", str(out), "-q", "--on-error", "skip"])
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped input rows: 1" in skipped.stdout and count_lines(out) == 2


def test_unknown_evaluator_and_option_name_the_choices(tmp_path: Path) -> None:
    result = label(["demo", "-e", "nope", "-o", str(tmp_path / "j.jsonl")])
    assert result.returncode == 2 and "Evaluator 'nope' not found. Available:" in result.stderr
    assert "hf-judge" in result.stderr
    result = label(["demo", "-e", "hf-judge", "-O", "colour=red", "-o", str(tmp_path / "j.jsonl")])
    assert result.returncode == 2 and "no option colour" in result.stderr and "model" in result.stderr


def test_resume_after_kill_9_loses_nothing_and_writes_nothing_twice(tmp_path: Path, tiny_model: str,
                                                                   hh_path: Path) -> None:
    args = [str(hh_path), *hf_judge(tiny_model), "--limit", "120", "-q"]
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
    assert label(["demo", "--limit", "2", *hf_judge(tiny_model), "-o", str(out), "-q"]).returncode == 0
    template = tmp_path / "t.txt"
    template.write_text("Which is better? {conversation}\nA: {first}\nB: {second}\nAnswer:")
    before = out.read_text()
    result = label(["demo", "--limit", "2", *hf_judge(tiny_model), "-O", f"template={template}", "-o", str(out), "-q"])
    assert result.returncode == 2 and "identity" in result.stderr
    assert out.read_text() == before
