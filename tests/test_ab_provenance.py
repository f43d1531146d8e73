"""Judgment files carry their provenance (A/B seed, per-pair A/B hash, data hash); `audit` takes the A/B coin from
them, so its ``--seed`` seeds the bootstrap only, and refuses judgments whose A and B are not DATA's (issue 9,
defect 1; defect 9's verdict/p_first contradiction, same-id data swap and label/report data hash)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from rlaif_audit.errors import InputError

N_PAIRS = 300
PROVENANCE_FIELDS = ("ab_seed", "ab_hash", "data_hash")


def run_cli(args: list[Any]) -> Any:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def write_chosen_rejected(path: Path, extra: str = "", prompt: str = "question") -> Path:
    """Chosen/rejected pairs whose responses end in a quality tag the synthetic judge reads; the chosen one is
    better by N(1.5, 1), so a judge following quality agrees with the human choice on most (not all) pairs."""
    from rlaif_audit.judging.bias_injection import quality_tag
    from rlaif_audit.records.fileio import write_jsonl

    rng = np.random.default_rng(0)
    base, gap = rng.normal(size=N_PAIRS), rng.normal(1.5, 1.0, size=N_PAIRS)
    rows = [{"prompt": f"{prompt} {i}", "chosen": f"answer {i}{extra} {quality_tag(base[i] + gap[i])}",
             "rejected": f"other answer {i}{extra} {quality_tag(base[i])}"} for i in range(N_PAIRS)]
    write_jsonl(path, rows)
    return path


def printed_hash(output: str) -> str:
    """The data hash `label` prints in its summary."""
    match = re.search(r"^data: .* \(hash ([0-9a-f]+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """300 chosen/rejected pairs labeled by the synthetic judge with A/B seed 0."""
    folder = tmp_path_factory.mktemp("ab")
    data = write_chosen_rejected(folder / "pairs.jsonl")
    judgments = folder / "judgments.jsonl"
    result = run_cli(["label", data, "-e", "synthetic", "-O", "noise=0.3", "-o", judgments, "-q", "--seed", "0"])
    assert result.exit_code == 0, result.output
    return {"folder": folder, "data": data, "judgments": judgments, "label_output": result.output}


def audit(judgments: Path, data: Path, out: Path, *extra: Any) -> Any:
    return run_cli(["audit", judgments, "--data", data, "-o", out, "--n-bootstrap", "50", "--report-formats", "json",
                    *extra])


def agreement(out: Path) -> dict[str, Any]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report["auditors"]["agreement"]["metrics"]["accuracy_without_ties"]


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def rewrite(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------- the A/B seed is recorded


def test_audit_seed_seeds_the_bootstrap_only(labeled: dict[str, Any], tmp_path: Path) -> None:
    """On main, `audit --seed 7` re-drew which response is A: agreement fell from ~0.9 to ~0.5, exit 0."""
    results = {}
    for seed in (0, 7):
        result = audit(labeled["judgments"], labeled["data"], tmp_path / f"r{seed}", "--seed", seed)
        assert result.exit_code == 0, result.output
        results[seed] = agreement(tmp_path / f"r{seed}")
    assert results[0]["value"] > 0.85 and results[0]["n"] == N_PAIRS
    assert results[7]["value"] == results[0]["value"] and results[7]["n"] == results[0]["n"]
    report = json.loads((tmp_path / "r7" / "report.json").read_text(encoding="utf-8"))
    assert report["seed"] == 7 and report["config"]["ab_seed"] == 0


def test_judgment_lines_carry_their_provenance(labeled: dict[str, Any], tmp_path: Path) -> None:
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.records.provenance import ab_hash, data_hash

    pairs = {pair.id: pair for pair in read_pairs(str(labeled["data"]), seed=0).pairs}
    records = lines_of(labeled["judgments"])
    assert len(records) == 2 * N_PAIRS
    assert {record["ab_seed"] for record in records} == {0}
    for record in records:  # both orders carry the A/B texts in data order, A first
        pair = pairs[record["pair_id"]]
        assert record["ab_hash"] == ab_hash(pair.a, pair.b) != ab_hash(pair.b, pair.a)
    hashes = {record["data_hash"] for record in records}
    assert hashes == {data_hash(pairs.values())} == {printed_hash(labeled["label_output"])}
    result = audit(labeled["judgments"], labeled["data"], tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "report.json").read_text())["data"]["hash"] in hashes


def test_label_and_report_print_the_same_data_hash(labeled: dict[str, Any], tmp_path: Path) -> None:
    """On main the report hashed every pair of DATA (and its labels), `label --limit` only those it labeled."""
    judgments = tmp_path / "head.jsonl"
    result = run_cli(["label", labeled["data"], "-e", "synthetic", "-o", judgments, "-q", "--limit", 40])
    assert result.exit_code == 0, result.output
    out = tmp_path / "r"
    assert audit(judgments, labeled["data"], out).exit_code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["data"]["n_pairs"] == 40
    assert report["data"]["hash"] == printed_hash(result.output)


def test_label_seed_is_an_alias_of_ab_seed(labeled: dict[str, Any], tmp_path: Path) -> None:
    copies = {}
    for flag in ("--seed", "--ab-seed"):
        copies[flag] = tmp_path / f"{flag}.jsonl"
        result = run_cli(["label", labeled["data"], "-e", "synthetic", "-o", copies[flag], "-q", "--limit", 20,
                          flag, 5])
        assert result.exit_code == 0, result.output
    assert copies["--seed"].read_text() == copies["--ab-seed"].read_text()
    assert {record["ab_seed"] for record in lines_of(copies["--seed"])} == {5}


def test_pairs_with_a_and_b_fixed_record_no_ab_seed(tmp_path: Path) -> None:
    from rlaif_audit.testing import write_synthetic_pairs

    data = write_synthetic_pairs(tmp_path / "native.jsonl", 10, seed=1)
    judgments = tmp_path / "j.jsonl"
    result = run_cli(["label", data, "-e", "synthetic", "-o", judgments, "-q", "--ab-seed", 4])
    assert result.exit_code == 0 and "A and B as given" in result.output, result.output
    assert {record["ab_seed"] for record in lines_of(judgments)} == {None}
    resumed = run_cli(["label", data, "-e", "synthetic", "-o", judgments, "-q", "--ab-seed", 5])  # no coin: fine
    assert resumed.exit_code == 0 and "(0 new" in resumed.output, resumed.output


# ------------------------------------------------------------------------------------------- refused: exit 2


def test_audit_with_another_ab_seed_is_refused(labeled: dict[str, Any], tmp_path: Path) -> None:
    from rlaif_audit.data.pairs import read_pairs
    from rlaif_audit.records.provenance import ab_hash

    out = tmp_path / "r"
    result = audit(labeled["judgments"], labeled["data"], out, "--ab-seed", 7)
    assert result.exit_code == 2, result.output
    match = re.search(rf"{re.escape(str(labeled['judgments']))}:(\d+): field 'ab_hash': pair '(row-\d+)'",
                      result.output)
    assert match, result.output
    line, pair_id = int(match.group(1)), match.group(2)
    assert lines_of(labeled["judgments"])[line - 1]["pair_id"] == pair_id
    seeded = {seed: next(p for p in read_pairs(str(labeled["data"]), seed=seed).pairs if p.id == pair_id)
              for seed in (0, 7)}
    for seed, pair in seeded.items():  # both seeds and both hashes are named
        assert f"A/B seed {seed}" in result.output and ab_hash(pair.a, pair.b) in result.output
    assert not out.exists()


def test_other_data_under_the_same_ids_is_refused(labeled: dict[str, Any], tmp_path: Path) -> None:
    """Longer responses under the same row-N ids: on main the length metrics changed silently (exit 0)."""
    other = write_chosen_rejected(tmp_path / "other.jsonl", extra=" with a few more words to read")
    out = tmp_path / "r"
    result = audit(labeled["judgments"], other, out)
    assert result.exit_code == 2, result.output
    assert f"{labeled['judgments']}:1: field 'ab_hash': pair 'row-0'" in result.output
    assert f"{N_PAIRS} of {N_PAIRS} judged pairs differ" in result.output
    assert not out.exists()


def test_other_contexts_under_the_same_ids_are_warned_about(labeled: dict[str, Any], tmp_path: Path) -> None:
    """The A/B hashes cover the responses; a changed prompt shows in the data hash the judgments recorded."""
    other = write_chosen_rejected(tmp_path / "other.jsonl", prompt="another question")
    result = audit(labeled["judgments"], other, tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "the judgments were labeled from data hashing to" in result.stderr
    assert "labeled from data" not in audit(labeled["judgments"], labeled["data"], tmp_path / "same").stderr


def test_resuming_with_another_ab_seed_is_refused(labeled: dict[str, Any], tmp_path: Path) -> None:
    judgments = shutil.copy(labeled["judgments"], tmp_path / "j.jsonl")
    before = Path(judgments).read_text()
    result = run_cli(["label", labeled["data"], "-e", "synthetic", "-O", "noise=0.3", "-o", judgments, "-q",
                      "--ab-seed", 1])
    assert result.exit_code == 2, result.output
    assert f"{judgments}:1: field 'ab_seed': already holds judgments labeled with A/B seed 0" in result.output
    assert Path(judgments).read_text() == before
    resumed = run_cli(["label", labeled["data"], "-e", "synthetic", "-O", "noise=0.3", "-o", judgments, "-q"])
    assert resumed.exit_code == 0 and "(0 new" in resumed.output, resumed.output


def test_resuming_other_texts_under_the_same_ids_is_refused(tmp_path: Path) -> None:
    from rlaif_audit.data.judgment_file import JudgmentFile
    from rlaif_audit.records.provenance import LabelProvenance
    from rlaif_audit.records.types import Judgment, PreferencePair

    path = tmp_path / "j.jsonl"
    first = [PreferencePair("p1", [], "x", "y")]
    JudgmentFile(path, "e", "id", LabelProvenance.of(first, None)).append([Judgment("p1", "ab", 0.7, "first")])
    swapped = [PreferencePair("p1", [], "y", "x")]
    with pytest.raises(InputError, match=r"j\.jsonl:1: field 'ab_hash': pair 'p1' was judged with A/B hash"):
        JudgmentFile(path, "e", "id", LabelProvenance.of(swapped, None))


def test_a_file_mixing_ab_seeds_is_refused(labeled: dict[str, Any], tmp_path: Path) -> None:
    records = lines_of(labeled["judgments"])
    records[4]["ab_seed"] = 3
    judgments = rewrite(tmp_path / "mixed.jsonl", records)
    result = audit(judgments, labeled["data"], tmp_path / "r")
    assert result.exit_code == 2, result.output
    assert f"{judgments}:5: field 'ab_seed': mixes judgments of 2 A/B seeds (0, 3)" in result.output


# --------------------------------------------------------------------------------- files without provenance


def test_a_file_without_provenance_warns_and_keeps_the_old_coin(labeled: dict[str, Any], tmp_path: Path) -> None:
    old = [{k: v for k, v in record.items() if k not in PROVENANCE_FIELDS} for record in lines_of(labeled["judgments"])]
    judgments = rewrite(tmp_path / "old.jsonl", old)
    values = {}
    for name, extra in (("seed0", ["--seed", 0]), ("seed7", ["--seed", 7]), ("ab0", ["--seed", 7, "--ab-seed", 0])):
        result = audit(judgments, labeled["data"], tmp_path / name, *extra)
        assert result.exit_code == 0, result.output
        assert "records no A/B provenance" in result.stderr
        values[name] = agreement(tmp_path / name)["value"]
    assert values["seed0"] == values["ab0"] > 0.85
    assert values["seed7"] < 0.7  # the old behaviour: --seed is the A/B coin for such a file


# ------------------------------------------------------------------------------- verdict against p_first


@pytest.mark.parametrize(("p_first", "verdict", "agrees"), [
    (0.8, "first", True), (0.2, "second", True), (0.5, "tie", True), (0.6, "tie", True), (0.01, "tie", True),
    (0.8, "second", False), (0.2, "first", False), (0.5, "first", False), (0.5, "second", False),
    (1.0, "tie", False), (0.0, "tie", False),
])
def test_a_verdict_contradicting_p_first_is_an_input_error(tmp_path: Path, p_first: float, verdict: str,
                                                            agrees: bool) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    path = rewrite(tmp_path / "j.jsonl", [{"pair_id": "ok", "order": "ab", "p_first": 0.7, "verdict": "first"},
                                          {"pair_id": "p", "order": "ab", "p_first": p_first, "verdict": verdict}])
    if agrees:
        assert list(read_judgments(path)["verdict"]) == ["first", verdict]
        return
    with pytest.raises(InputError) as info:
        read_judgments(path)
    assert str(info.value).startswith(f"{path}:2: field 'verdict': verdict {verdict!r} contradicts p_first")


def test_audit_of_a_contradictory_verdict_exits_2(labeled: dict[str, Any], tmp_path: Path) -> None:
    records = lines_of(labeled["judgments"])
    row = next(i for i, record in enumerate(records) if record["p_first"] > 0.6)
    records[row]["verdict"] = "second"
    judgments = rewrite(tmp_path / "j.jsonl", records)
    out = tmp_path / "r"
    result = audit(judgments, labeled["data"], out)
    assert result.exit_code == 2, result.output
    assert f"{judgments}:{row + 1}: field 'verdict': verdict 'second' contradicts p_first" in result.output
    assert not out.exists()


@pytest.mark.parametrize(("field", "value"), [("ab_seed", "zero"), ("ab_seed", True), ("ab_hash", 12),
                                              ("data_hash", ["x"])])
def test_provenance_fields_of_the_wrong_type_name_line_and_field(tmp_path: Path, field: str, value: Any) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    path = rewrite(tmp_path / "j.jsonl", [{"pair_id": "p", "order": "ab", "p_first": 0.7, field: value}])
    with pytest.raises(InputError, match=rf"j\.jsonl:1: field '{field}': must be"):
        read_judgments(path)


# ------------------------------------------------------------------------------------------------ the loop


def test_the_loops_judgments_and_report_share_the_data_hash(pm: Any, tmp_path: Path) -> None:
    """The loop labels pairs with A and B fixed (no A/B seed): each line carries its ab_hash and the data hash,
    the generation report records the same data hash (on main: the pairs file's bytes), and pairs swapped under the
    same ids are refused."""
    from types import SimpleNamespace

    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.host import make_evaluator
    from rlaif_audit.judging.labeling import label_pairs
    from rlaif_audit.loop.reports import build_generation_report
    from rlaif_audit.records.fileio import write_jsonl
    from rlaif_audit.records.types import PreferencePair

    folder = tmp_path / "gen-0"
    folder.mkdir()
    pairs = [PreferencePair(f"g{i}", [{"role": "user", "content": f"q{i}"}], f"reply {i}", f"other reply {i} longer")
             for i in range(12)]
    write_jsonl(folder / "pairs.jsonl", [pair.to_dict() for pair in pairs])
    summary = label_pairs(make_evaluator("synthetic", {}, pm), pairs, folder / "judgments.jsonl", progress=False)
    records = lines_of(folder / "judgments.jsonl")
    assert {record["ab_seed"] for record in records} == {None}
    assert {record["data_hash"] for record in records} == {summary.data_hash}
    inputs = AuditInputs.from_pairs(folder / "judgments.jsonl", pairs, [], str(folder / "pairs.jsonl"))
    assert inputs.data_hash == summary.data_hash and inputs.warnings == []
    run = SimpleNamespace(folder=tmp_path, gen_dir=lambda generation: folder, manifest={}, pm=pm,
                          config=SimpleNamespace(to_dict=dict, reward="model"),
                          is_done=lambda generation, stage: False, stage_outputs=lambda generation, stage: {})
    report = build_generation_report(run, 0, build_context(inputs, n_bootstrap=0), {})
    assert report.data.hash == summary.data_hash
    swapped = [PreferencePair(p.id, p.context, p.b, p.a) for p in pairs]
    with pytest.raises(InputError, match=r"judgments\.jsonl:1: field 'ab_hash': pair 'g0' .*no A/B seed recorded"):
        AuditInputs.from_pairs(folder / "judgments.jsonl", swapped, [], "swapped")
