"""Probe suites: pinned hashes, correct expected answers, the register_probe_suites hook, judge_probes and `probe`."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError, PluginError
from rlaif_audit.host import probe_suites
from rlaif_audit.judging.bias_injection import quality_tag
from rlaif_audit.judging.probes import (ProbeSuite, anchor_suite, judge_probes, pairs_path, probe_pair, probe_scores,
                                        self_preference_suite, suite_hash)
from rlaif_audit.records.types import PreferencePair

PINNED = {"known-answer": ("1", "99ba6fbfcd9345b5"), "length": ("1", "1170727b9573a90c")}
"""Each shipped suite's version and hash: a change to a suite's pairs must bump its version and this pin."""
CONVERSIONS = {("kilometres", "metres"): 1000, ("metres", "centimetres"): 100, ("kilograms", "grams"): 1000,
               ("hours", "minutes"): 60, ("minutes", "seconds"): 60, ("days", "hours"): 24, ("feet", "inches"): 12,
               ("yards", "feet"): 3, ("litres", "millilitres"): 1000, ("weeks", "days"): 7,
               ("years", "months"): 12, ("centuries", "years"): 100}
"""The true factors, written apart from the suite's own table."""


def expected_and_other(pair: PreferencePair) -> tuple[str, str]:
    return (pair.a, pair.b) if pair.metadata["expected"] == "a" else (pair.b, pair.a)


def shipped(pm, name: str) -> ProbeSuite:
    return probe_suites(pm).get(name)


def tagged_suite(name: str = "tagged", n: int = 30) -> ProbeSuite:
    """A plugin's suite whose expected response carries the higher synthetic-judge quality tag."""
    pairs = []
    for index in range(n):
        good, bad = f"good answer {index} {quality_tag(1.5)}", f"bad answer {index} {quality_tag(-1.5)}"
        expected = "a" if index % 2 else "b"
        a, b = (good, bad) if expected == "a" else (bad, good)
        pairs.append(probe_pair(name, "1", f"{name}/{index:02d}", f"question {index}", a, b, expected=expected,
                                kind="tagged"))
    return ProbeSuite(name, "1", "tagged test probes", tuple(pairs))


class SuitePlugin:
    """A third-party plugin registering one suite."""

    def __init__(self, suite: ProbeSuite) -> None:
        self.suite = suite

    @hookimpl
    def register_probe_suites(self, register: Callable[[ProbeSuite], None]) -> None:
        register(self.suite)


def run_cli(pm, monkeypatch, args: list[str]):
    import rlaif_audit.host as host
    from rlaif_audit.cli import build_cli

    monkeypatch.setattr(host, "get_plugin_manager", lambda load_entry_points=True: pm)
    return CliRunner().invoke(build_cli(), args)


# ------------------------------------------------------------------------------------------ shipped suites


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_suite_hash_is_pinned(pm, name: str) -> None:
    suite = shipped(pm, name)
    assert (suite.version, suite.hash) == PINNED[name]
    assert suite.hash == suite_hash(reversed(suite.pairs))  # order-free


def test_suite_hash_changes_with_any_content_or_expected() -> None:
    suite = tagged_suite()
    first = suite.pairs[0]
    flipped = PreferencePair(first.id, first.context, first.a, first.b, {**first.metadata, "expected": "a"})
    edited = PreferencePair(first.id, first.context, first.a + " ", first.b, first.metadata)
    assert len({suite.hash, suite_hash((flipped, *suite.pairs[1:])), suite_hash((edited, *suite.pairs[1:]))}) == 3


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_pairs_carry_the_contract_metadata(pm, name: str) -> None:
    suite = shipped(pm, name)
    ids = [pair.id for pair in suite.pairs]
    assert len(set(ids)) == len(ids) and all(pair_id.startswith(f"{name}/") for pair_id in ids)
    for pair in suite.pairs:
        meta = pair.metadata
        assert (meta["suite"], meta["suite_version"]) == (name, suite.version)
        assert meta["expected"] in ("a", "b") and meta["probe_kind"] in suite.kinds
        assert pair.a != pair.b and pair.context[0]["role"] == "user"
    expected_a = sum(pair.metadata["expected"] == "a" for pair in suite.pairs)
    assert 0.3 < expected_a / len(suite.pairs) < 0.7  # the seeded coin places the expected one in both slots


def test_known_answer_suite_size_and_kinds(pm) -> None:
    suite = shipped(pm, "known-answer")
    assert suite.kinds == ["arithmetic", "fact", "format", "off_prompt", "unit"] and 50 <= len(suite.pairs) <= 70


def test_arithmetic_expected_answer_is_the_true_result(pm) -> None:
    arithmetic = [p for p in shipped(pm, "known-answer").pairs if p.metadata["probe_kind"] == "arithmetic"]
    assert len(arithmetic) >= 12
    for pair in arithmetic:
        x, op, y = re.fullmatch(r"What is (\d+) (\S) (\d+)\?", pair.context[0]["content"]).groups()
        truth = {"+": int(x) + int(y), "-": int(x) - int(y), "×": int(x) * int(y)}[op]
        right, wrong = expected_and_other(pair)
        assert right == f"{x} {op} {y} = {truth}." and wrong != right and wrong.startswith(f"{x} {op} {y} = ")


def test_unit_expected_answer_is_the_true_conversion(pm) -> None:
    units = [p for p in shipped(pm, "known-answer").pairs if p.metadata["probe_kind"] == "unit"]
    assert len(units) == len(CONVERSIONS)
    for pair in units:
        target, amount, source = re.fullmatch(r"How many (\w+) are in (\d+) (\w+)\?",
                                              pair.context[0]["content"]).groups()
        right, wrong = expected_and_other(pair)
        assert right == f"{amount} {source} is {int(amount) * CONVERSIONS[(source, target)]} {target}."
        assert wrong != right


def test_known_answer_length_does_not_give_the_answer_away(pm) -> None:
    """A judge that always picks the longer response scores near chance on known-answer probes."""
    pairs = shipped(pm, "known-answer").pairs
    longer_right = [len(expected_and_other(p)[0]) > len(expected_and_other(p)[1]) for p in pairs]
    same = [len(p.a) == len(p.b) for p in pairs]
    score = (sum(longer_right) + 0.5 * sum(same)) / len(pairs)
    assert 0.35 <= score <= 0.65
    ratios = [abs(math.log(len(p.a) / len(p.b))) for p in pairs if p.metadata["probe_kind"] != "format"]
    assert max(ratios) < math.log(1.6)


def test_length_suite_pads_the_same_content(pm) -> None:
    suite = shipped(pm, "length")
    assert suite.kinds == ["padding_filler", "padding_repeat", "padding_restate"] and 30 <= len(suite.pairs) <= 50
    for pair in suite.pairs:
        concise, padded = expected_and_other(pair)
        assert concise in padded and len(padded) >= len(concise) + 30


# ------------------------------------------------------------------------------------------ the hook


def test_hook_register_probe_suites(pm, monkeypatch) -> None:
    pm.register(SuitePlugin(tagged_suite("third-party")), name="suite-plugin")
    registry = probe_suites(pm)
    assert registry.items["third-party"].plugin == "suite-plugin"
    assert {"known-answer", "length"} <= set(registry.names())  # the built-ins use the same hook
    result = run_cli(pm, monkeypatch, ["probe-suites", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["third-party"]["hash"] == tagged_suite("third-party").hash and rows["third-party"]["n_pairs"] == 30
    assert (rows["length"]["version"], rows["length"]["hash"]) == PINNED["length"]
    assert rows["known-answer"]["kinds"] == ["arithmetic", "fact", "format", "off_prompt", "unit"]


def test_a_duplicate_suite_name_is_an_error_naming_both_plugins(pm) -> None:
    pm.register(SuitePlugin(tagged_suite("length")), name="copycat")
    with pytest.raises(PluginError, match="'length' is registered by two plugins: .*probe_suites.* and 'copycat'|"
                                          "'length' is registered by two plugins: 'copycat' and .*probe_suites"):
        probe_suites(pm)


def test_probe_suites_text_listing(pm, monkeypatch) -> None:
    result = run_cli(pm, monkeypatch, ["probe-suites"])
    assert result.exit_code == 0
    assert f"length v1: 42 pairs, hash {PINNED['length'][1]}" in result.output


# ------------------------------------------------------------------------------------------ judging and scores


def scores_of(output: str) -> dict[tuple[str, str], dict]:
    return {(row["suite"], row["kind"]): row for row in json.loads(output)}


def test_probe_position_biased_judge_scores_half_and_accurate_one_high(pm, monkeypatch, tmp_path: Path) -> None:
    pm.register(SuitePlugin(tagged_suite()), name="suite-plugin")
    biased = run_cli(pm, monkeypatch, ["probe", "-e", "synthetic", "-O", "strength=0", "-O", "position_bias=3",
                                       "-o", str(tmp_path / "biased.jsonl"), "-q", "--json"])
    assert biased.exit_code == 0, biased.output
    biased_scores = scores_of(biased.output)
    for suite, n in (("known-answer", 60), ("tagged", 30)):  # always-first: the two orders cancel to P(A) = ½
        row = biased_scores[(suite, "all")]  # (± rounding, which the tie rule at band 0 reads as a coin flip)
        assert row["n"] == n and abs(row["value"] - 0.5) <= 0.15 and row["ci"][0] < 0.5 < row["ci"][1]
    accurate = run_cli(pm, monkeypatch, ["probe", "-e", "synthetic", "-O", "strength=3", "--suite", "tagged",
                                         "-o", str(tmp_path / "accurate.jsonl"), "-q", "--json"])
    assert accurate.exit_code == 0, accurate.output
    row = scores_of(accurate.output)[("tagged", "all")]
    assert row["value"] == 1.0 and row["ci"][0] > 0.85 and row["n"] == 30
    assert set(scores_of(accurate.output)) == {("tagged", "all"), ("tagged", "tagged")}  # --suite selects


@pytest.mark.parametrize(("length_pref", "padded_wins"), [(3.0, 1.0), (-3.0, 0.0)])
def test_padded_wins_follow_a_length_biased_judge(pm, tmp_path: Path, length_pref: float,
                                                  padded_wins: float) -> None:
    from rlaif_audit.host import make_evaluator

    suite = shipped(pm, "length")
    judge = make_evaluator("synthetic", {"strength": "0", "length_pref": str(length_pref)}, pm)
    out = judge_probes(pm, judge, ["length"], tmp_path / "j.jsonl")
    scores = {(s.suite, s.kind): s for s in probe_scores(out, suite.pairs)}
    assert scores[("length", "all")].measure == "padded_wins"
    assert scores[("length", "all")].metric.value == padded_wins and scores[("length", "all")].metric.n == 42
    assert scores[("length", "padding_filler")].metric.n == 14


def test_judge_probes_writes_both_orders_and_resumes(pm, tmp_path: Path) -> None:
    from rlaif_audit.host import make_evaluator

    out = tmp_path / "probes" / "j.jsonl"
    judge_probes(pm, make_evaluator("synthetic", {}, pm), ["known-answer"], out)
    lines = out.read_text().splitlines()
    assert len(lines) == 120 and {json.loads(line)["order"] for line in lines} == {"ab", "ba"}
    judge_probes(pm, make_evaluator("synthetic", {}, pm), ["known-answer"], out)
    assert out.read_text().splitlines() == lines  # nothing judged twice
    assert len(pairs_path(out).read_text().splitlines()) == 60


def test_probe_pairs_file_is_audited_by_audit(pm, monkeypatch, tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    result = run_cli(pm, monkeypatch, ["probe", "-e", "synthetic", "--suite", "length", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "length: padded_wins" in result.output
    report = tmp_path / "report"
    audited = run_cli(pm, monkeypatch, ["audit", str(out), "--data", str(pairs_path(out)), "-o", str(report),
                                        "--n-bootstrap", "50", "--report-formats", "json"])
    assert audited.exit_code == 0, audited.output
    assert json.loads((report / "report.json").read_text())["data"]["n_pairs"] == 42


def test_unknown_suite_names_the_valid_ones(pm, monkeypatch, tmp_path: Path) -> None:
    result = run_cli(pm, monkeypatch, ["probe", "-e", "synthetic", "--suite", "nope", "-o", str(tmp_path / "j")])
    available = ", ".join(probe_suites(pm).names())  # the built-in suites and any installed plugin's
    assert "known-answer, length" in available
    assert result.exit_code == 2 and f"Probe suite 'nope' not found. Available: {available}" in result.output


# ------------------------------------------------------------------------------------------ builders


def test_anchor_suite_expected_is_the_human_label_placed_as_label_places_it(hh_path: Path) -> None:
    from rlaif_audit.data.pairs import read_pairs

    suite, labels = anchor_suite(hh_path, limit=12, seed=5)
    as_label = read_pairs(hh_path, seed=5, limit=12)
    human = {label.pair_id: label.preferred for label in as_label.labels}
    assert len(suite.pairs) == 12 and {p.metadata["probe_kind"] for p in suite.pairs} == {"human_anchor"}
    for pair, original in zip(suite.pairs, as_label.pairs):
        assert pair.id == f"human-anchors/{original.id}" and (pair.a, pair.b) == (original.a, original.b)
        assert pair.metadata["expected"] == human[original.id]
    assert {label.pair_id for label in labels} == {pair.id for pair in suite.pairs}
    assert {p.metadata["expected"] for p in suite.pairs} == {"a", "b"}  # the coin uses both slots
    other_seed, _ = anchor_suite(hh_path, limit=12, seed=6)
    assert other_seed.version != suite.version and other_seed.hash != suite.hash


def test_anchor_data_without_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"id": "x", "prompt": "q", "a": "1", "b": "2"}) + "\n")
    with pytest.raises(ConfigError, match="pairs.jsonl: no human labels"):
        anchor_suite(path)


def test_probe_with_anchor_data_scores_agreement(pm, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "human.jsonl"
    rows = [{"id": f"h{i}", "prompt": f"q{i}", "a": f"x {quality_tag(1.0 if i % 3 else -1.0)}",
             "b": f"y {quality_tag(0.0)}", "preferred": "a" if i % 3 else "b"} for i in range(9)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "j.jsonl"
    result = run_cli(pm, monkeypatch, ["probe", "-e", "synthetic", "-O", "strength=4", "--suite", "length",
                                       "--anchor-data", str(path), "-o", str(out), "-q", "--json"])
    assert result.exit_code == 0, result.output
    row = scores_of(result.output)[("human-anchors", "all")]
    assert (row["value"], row["n"]) == (1.0, 9)
    written = [json.loads(line) for line in pairs_path(out).read_text().splitlines()]
    assert [r["labels"] for r in written if r["id"] == "human-anchors/h0"] == [[{"annotator": "source",
                                                                                "preferred": "b"}]]


def test_self_preference_suite_records_the_own_slot_and_scores_own_wins(pm, tmp_path: Path) -> None:
    from rlaif_audit.host import make_evaluator

    own = [f"own {i} {quality_tag(1.0)}" for i in range(20)]
    other = [f"other {i} {quality_tag(-1.0)}" for i in range(20)]
    suite = self_preference_suite([f"p{i}" for i in range(20)], own, other, own_model="gen-1", other_model="base")
    for pair, own_text in zip(suite.pairs, own):
        assert getattr(pair, pair.metadata["own"]) == own_text and "expected" not in pair.metadata
    assert {p.metadata["own"] for p in suite.pairs} == {"a", "b"}
    out = judge_probes(pm, make_evaluator("synthetic", {"strength": "4"}, pm), [suite], tmp_path / "j.jsonl")
    (score,) = [s for s in probe_scores(out, suite.pairs) if s.kind == "all"]
    assert (score.measure, score.metric.value, score.metric.n) == ("own_wins", 1.0, 20)
    with pytest.raises(ConfigError, match="must be the same length"):
        self_preference_suite(["p"], own, other)


def test_a_suite_subset_is_seeded_stratified_and_its_own_version() -> None:
    from rlaif_audit.judging.probes import resolve_suites

    (suite,) = resolve_suites(None, ["known-answer"])
    kinds = suite.kinds
    small = suite.subset(len(kinds) * 2, seed=3)
    assert len(small.pairs) == len(kinds) * 2
    counts = {k: sum(p.metadata["probe_kind"] == k for p in small.pairs) for k in kinds}
    assert set(counts.values()) == {2}, counts  # every kind, equally
    assert small.subset(0) is small and suite.subset(len(suite.pairs)) is suite
    again = suite.subset(len(kinds) * 2, seed=3)
    assert [p.id for p in again.pairs] == [p.id for p in small.pairs] and again.hash == small.hash
    other = suite.subset(len(kinds) * 2, seed=4)
    assert [p.id for p in other.pairs] != [p.id for p in small.pairs]
    assert small.version != suite.version and small.hash != suite.hash
    assert {p.id for p in small.pairs} <= {p.id for p in suite.pairs}
