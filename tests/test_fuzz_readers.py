"""Every reader is total: any bytes give data or an InputError naming file, line and field, never a traceback.

Property-based (hypothesis, a fixed budget: the whole file runs in well under a minute), over the cases of
:mod:`rlaif_audit.data.fuzz` (the generators of ``scripts/fuzz_readers.py``) plus hypothesis' own bytes and JSON
values; then the CLI (exit 2, nothing written) and one test per failure the fuzzing found.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings  # the test extra (pyproject.toml): never skipped
from hypothesis import strategies as st

from rlaif_audit.data import fuzz
from rlaif_audit.data import fuzz_targets as seeds
from rlaif_audit.errors import InputError

TARGETS = seeds.targets()
BUDGET = settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


def with_value(target: fuzz.Target, rng: random.Random, value: Any) -> bytes:
    """A seed of ``target`` with one field of one record set to ``value`` (JSON seeds; others: the seed)."""
    seed = rng.choice(target.seeds)
    if target.mutate is not fuzz.mutate_json_records:
        return seed
    text = seed.decode()
    array = text.lstrip().startswith("[")
    records = json.loads(text) if array else [json.loads(line) for line in text.splitlines() if line.strip()]
    record = rng.choice(records)
    record[rng.choice(sorted(record))] = value
    dumped = [json.dumps(item, allow_nan=True) for item in records]
    return ("[" + ",\n".join(dumped) + "]" if array else "\n".join(dumped) + "\n").encode("utf-8", "surrogatepass")


def cases(target: fuzz.Target) -> st.SearchStrategy[bytes]:
    """The fuzz module's hostile cases, raw bytes, and seeds with a hypothesis JSON value in one field."""
    randoms = st.randoms(use_true_random=False)
    return st.one_of(
        st.builds(fuzz.hostile_case, st.just(target), randoms),
        st.builds(fuzz.hostile_case, st.just(target), randoms),
        st.binary(max_size=300),
        st.builds(with_value, st.just(target), randoms, json_values),
    )


def check_case(target: fuzz.Target, case: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        result, exc = fuzz.outcome(target, folder, case)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result == "crash":
        raise AssertionError(f"{target.name} crashed on {case[:300]!r}") from exc


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_reader_gives_data_or_input_error(name: str) -> None:
    target = TARGETS[name]

    @BUDGET
    @given(case=cases(target))
    def property_(case: bytes) -> None:
        check_case(target, case)

    property_()


def test_every_reader_reads_its_seeds() -> None:
    """The seeds are valid (a fuzzing whose seeds all fail would only test the first line's error)."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        failing = [(name, index) for name, target in TARGETS.items() for index, seed in enumerate(target.seeds)
                   if fuzz.outcome(target, folder / f"{name}-{index}", seed)[0] != "data"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert failing == []


def test_the_script_counts_cases_per_reader() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_readers.py"
    result = subprocess.run([sys.executable, str(script), "--cases", "3", "--only", "prompt-file,judgment-file"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[1:5] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"prompt-file", "judgment-file"}
    for cases_, data, errors, crashes in rows.values():
        assert int(cases_) == 3 and int(data) + int(errors) == 3 and crashes == "0"


# -------------------------------------------------------------------------------------------------------- the CLI


def run_cli(args: list[Any]) -> Any:
    from click.testing import CliRunner

    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


CLI_BUDGET = settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@CLI_BUDGET
@given(case=cases(TARGETS["pairs-jsonl"]))
def test_label_cli_exits_2_and_writes_nothing_on_bad_data(case: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-cli-"))
    try:
        data = folder / "pairs.jsonl"
        data.write_bytes(case)
        result = run_cli(["label", data, "-e", "synthetic", "-o", folder / "out" / "judgments.jsonl", "-q"])
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert not (folder / "out").exists() or not any((folder / "out").iterdir())
            assert result.output.startswith("Error:") or "Error:" in result.output
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CLI_JUDGMENTS = [{key: value for key, value in row.items() if key not in ("ab_seed", "ab_hash", "data_hash")}
                 for row in seeds.JUDGMENTS[:3]]
CLI_TARGET = fuzz.Target("cli-judgments", "judgments.jsonl", (seeds.jsonl_bytes(CLI_JUDGMENTS),),
                         fuzz.mutate_json_records, lambda path: None)


@CLI_BUDGET
@given(case=cases(CLI_TARGET))
def test_audit_cli_exits_2_and_writes_no_report_on_a_bad_judgment_file(case: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-cli-"))
    try:
        (folder / "pairs.jsonl").write_bytes(seeds.jsonl_bytes(seeds.NATIVE_PAIRS))
        (folder / "judgments.jsonl").write_bytes(case)
        result = run_cli(["audit", folder / "judgments.jsonl", "--data", folder / "pairs.jsonl", "-o",
                          folder / "report", "--n-bootstrap", "20"])
        assert result.exit_code in (0, 1, 2), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert not (folder / "report").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("blob", [b"temperature = inf\n", b'evaluator = "x\xff"\n', b"auditors = " + b"[" * 3000,
                                  b"seed = " + b"9" * 5000, b"[evaluator_options]\nk = nan\n"])
def test_run_cli_refuses_a_hostile_config_before_creating_the_run(tmp_path: Path, blob: bytes) -> None:
    config = _write(tmp_path, "run.toml", blob)
    result = run_cli(["run", "--config", config, "-o", tmp_path / "run"])
    assert result.exit_code == 2, result.output
    assert "run.toml" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------- the failures the fuzzing found, one test each


def _write(tmp_path: Path, name: str, blob: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def _judgment_line(**changes: Any) -> str:
    return json.dumps({**CLI_JUDGMENTS[0], **changes}) + "\n"


def test_judgment_file_non_utf8_names_line_and_byte(tmp_path: Path) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    first = _judgment_line().encode()
    path = _write(tmp_path, "j.jsonl", first + b'{"pair_id": "p\xff1"}\n')
    with pytest.raises(InputError, match=rf"j\.jsonl:2: not UTF-8 \(invalid start byte at byte {len(first) + 14} "):
        read_judgments(path)


@pytest.mark.parametrize("field", ["evaluator_id", "order", "verdict", "parse_status", "evaluator", "raw"])
def test_judgment_file_list_where_a_string_belongs(tmp_path: Path, field: str) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    path = _write(tmp_path, "j.jsonl", _judgment_line(**{field: ["x"]}).encode())
    with pytest.raises(InputError, match=rf"j\.jsonl:1: field '{field}': must be a string or null, got \['x'\]"):
        read_judgments(path)


@pytest.mark.parametrize(("field", "value"), [("p_first", 10**400), ("ab_seed", 10**30), ("latency_s", "slow"),
                                              ("pair_id", True)])
def test_judgment_file_numbers_out_of_any_range(tmp_path: Path, field: str, value: Any) -> None:
    from rlaif_audit.data.judgment_file import read_judgments

    path = _write(tmp_path, "j.jsonl", _judgment_line(**{field: value}).encode())
    with pytest.raises(InputError, match=rf"j\.jsonl:1: field '{field}': must be"):
        read_judgments(path)


HOSTILE_JSON = {
    "deep nesting": ("[" * 3000 + "]" * 3000, r"nested deeper than 100 levels"),
    "nesting past the limit": ("[" * 101 + "]" * 101, r"nested deeper than 100 levels"),
    "a 5000-digit integer": ("9" * 5000, r"a number has too many digits"),
    "a lone surrogate escape": ('"\\ud800"', r"lone surrogate escape \(\\ud800\)"),
    "a lone low surrogate in a key": ('{"\\udc80": 1}', r"lone surrogate escape \(\\udc80\)"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
@pytest.mark.parametrize("reader", ["pairs-jsonl", "pairs-json", "labels-jsonl", "judgment-file",
                                    "judgment-file-resume", "alpaca-eval", "fastchat", "fastchat-human",
                                    "prompt-file"])
def test_hostile_json_values_are_input_errors(tmp_path: Path, reader: str, case: str) -> None:
    raw, message = HOSTILE_JSON[case]
    target = TARGETS[reader]
    seed = target.seeds[0].decode()
    array = seed.lstrip().startswith("[")
    first = (json.loads(seed) if array else [json.loads(line) for line in seed.splitlines()])[0]
    key = sorted(first)[0]
    record = json.dumps({**first, key: "@@"}).replace('"@@"', raw)
    blob = (f"[{record}]" if array else record + "\n").encode()
    path = _write(tmp_path, target.file_name, blob)
    with pytest.raises(InputError, match=message) as error:
        target.read(path)
    assert error.value.line == (2 if array and "\n" in blob.decode() else 1)


def test_lone_surrogate_pair_is_kept_when_it_is_a_real_pair(tmp_path: Path) -> None:
    from rlaif_audit.loop.prompts import read_prompts

    path = _write(tmp_path, "p.jsonl", b'{"prompt": "smile \\ud83d\\ude00"}\n')
    assert read_prompts(path)[0]["prompt"] == "smile \U0001F600"


def test_resumable_file_refused_is_left_as_it_was(tmp_path: Path) -> None:
    """A refused judgment file is not touched: its torn last line is cut only once the rest has been read."""
    from rlaif_audit.data.judgment_file import JudgmentFile

    blob = _judgment_line(order="zz").encode() + b'{"pair_id": "p2", "ord'
    path = _write(tmp_path, "j.jsonl", blob)
    with pytest.raises(InputError, match="order"):
        JudgmentFile(path, "synthetic", "eid")
    assert path.read_bytes() == blob


def test_resumable_file_cuts_a_torn_tail_of_a_valid_file(tmp_path: Path) -> None:
    from rlaif_audit.data.judgment_file import JudgmentFile

    whole = _judgment_line().encode()
    path = _write(tmp_path, "j.jsonl", whole + b'{"pair_id": "p2", "ord')
    store = JudgmentFile(path, "synthetic", "eid")
    assert store.done == {("p1", "ab")} and path.read_bytes() == whole


def test_resumable_file_non_utf8_is_an_input_error(tmp_path: Path) -> None:
    from rlaif_audit.data.judgment_file import JudgmentFile

    path = _write(tmp_path, "j.jsonl", b"\x80" + _judgment_line().encode())
    with pytest.raises(InputError, match=r"j\.jsonl:1: not UTF-8 \(invalid start byte at byte 0 "):
        JudgmentFile(path, "synthetic", "eid")


def test_alpaca_eval_data_after_the_closing_bracket_is_an_error(tmp_path: Path) -> None:
    from rlaif_audit.default_plugins.importers.alpaca_eval import read_alpaca_eval

    blob = json.dumps(seeds.ALPACA[:2], indent=1) + '\n{"instruction": "dropped?"}\n'
    path = _write(tmp_path, "annotations.json", blob.encode())
    with pytest.raises(InputError, match=r"annotations\.json:\d+: data after the end of the JSON array") as error:
        read_alpaca_eval(path)
    assert error.value.line == blob.count("\n", 0, blob.index('{"instruction": "dropped')) + 1


def test_fastchat_model_names_are_never_paths(tmp_path: Path) -> None:
    """``model_2 = "../../outside/secret"`` must not read ``outside/secret.jsonl`` next to the bench folder."""
    from rlaif_audit.default_plugins.importers.fastchat import read_fastchat

    bench = tmp_path / "data" / "mt_bench"
    (bench / "model_answer").mkdir(parents=True)
    (bench / "question.jsonl").write_bytes(seeds.jsonl_bytes(seeds.QUESTIONS))
    (bench / "model_answer" / "beta.jsonl").write_bytes(seeds.jsonl_bytes(seeds.ANSWERS))
    secret = tmp_path / "data" / "outside"
    secret.mkdir()
    (secret / "secret.jsonl").write_bytes(seeds.jsonl_bytes([{**seeds.ANSWERS[0], "choices": [{"turns": ["SECRET"]}]}]))
    assert (bench / "model_answer" / "../../outside/secret.jsonl").resolve().is_file()
    judgments = _write(tmp_path, "pair.jsonl", seeds.jsonl_bytes([seeds.FASTCHAT[2]]))
    imported = read_fastchat(judgments, bench)
    assert all("SECRET" not in (pair.a + pair.b) for pair in imported.pairs)
    assert imported.pairs[0].metadata["texts_missing"]
    assert any("'../../outside/secret'" in warning and "not plain file names" in warning
               for warning in imported.warnings)


def test_fastchat_answer_file_linked_outside_the_bench_is_not_read(tmp_path: Path) -> None:
    from rlaif_audit.default_plugins.importers.fastchat import read_fastchat

    bench = tmp_path / "bench"
    (bench / "model_answer").mkdir(parents=True)
    (bench / "question.jsonl").write_bytes(seeds.jsonl_bytes(seeds.QUESTIONS))
    outside = _write(tmp_path, "secret.jsonl", seeds.jsonl_bytes([{**seeds.ANSWERS[0], "choices": [{"turns": ["S"]}]}]))
    for model in ("alpha", "beta"):
        (bench / "model_answer" / f"{model}.jsonl").symlink_to(outside)
    imported = read_fastchat(_write(tmp_path, "pair.jsonl", seeds.jsonl_bytes(seeds.FASTCHAT[:1])), bench)
    assert imported.pairs[0].a == "" and imported.pairs[0].metadata["texts_missing"]


@pytest.mark.parametrize(("file_name", "record", "field"), [
    ("question.jsonl", {"question_id": [81], "turns": ["x"]}, "question_id"),
    ("model_answer/alpha.jsonl", {"question_id": {"q": 81}, "choices": []}, "question_id"),
])
def test_fastchat_bench_folder_bad_question_ids(tmp_path: Path, file_name: str, record: dict, field: str) -> None:
    from rlaif_audit.default_plugins.importers.fastchat import read_fastchat

    bench = seeds.bench_folder(tmp_path / "x.jsonl")
    (bench / file_name).write_bytes(seeds.jsonl_bytes([record]))
    with pytest.raises(InputError, match=rf"{file_name}:1: field '{field}': must be a string or an integer"):
        read_fastchat(_write(tmp_path, "pair.jsonl", seeds.jsonl_bytes(seeds.FASTCHAT[:1])), bench)


@pytest.mark.parametrize(("change", "field"), [({"turn": [1]}, "turn"), ({"turn": "x"}, "turn"),
                                               ({"model_a": {"m": 1}}, "model_a"), ({"question_id": [81]},
                                                                                   "question_id"),
                                               ({"judge": []}, "judge")])
def test_fastchat_human_labels_wrong_types(tmp_path: Path, change: dict, field: str) -> None:
    target = TARGETS["fastchat-human"]
    path = _write(tmp_path, "human.json", json.dumps([{**seeds.FASTCHAT_HUMAN[0], **change}]).encode())
    with pytest.raises(InputError, match=rf"human\.json:1: field '{field}'"):
        target.read(path)


@pytest.mark.parametrize(("line", "field", "message"), [
    ("temperature = inf", "temperature", "must be a finite number, got inf"),
    ("top_p = nan", "top_p", "must be a finite number, got nan"),
    ("rm_learning_rate = -inf", "rm_learning_rate", "must be a finite number"),
    ("rl_steps = 99999999999999999999", "rl_steps", "is out of range: an integer must fit in 64 bits"),
    ("seed = 9223372036854775808", "seed", "is out of range"),
    ("[evaluator_options]\nbias = inf", "evaluator_options.bias", "must be a finite number"),
])
def test_run_config_refuses_non_finite_and_out_of_range_numbers(tmp_path: Path, line: str, field: str,
                                                                message: str) -> None:
    from rlaif_audit.loop.config import read_toml

    path = _write(tmp_path, "run.toml", f'evaluator = "synthetic"\n{line}\n'.encode())
    with pytest.raises(InputError, match=rf"run\.toml:(2|3): field '{field}': {message}"):
        read_toml(path)


@pytest.mark.parametrize(("blob", "message"), [
    (b'evaluator = "synth\xc3"\n', r"run\.toml: not UTF-8 \(invalid continuation byte at byte 18 of the file\)"),
    (b"seed = " + b"9" * 5000, r"not valid TOML: a number has too many digits"),
    (b"auditors = " + b"[" * 3000 + b"]" * 3000, r"not valid TOML: arrays or tables nested too deeply"),
])
def test_run_config_hostile_bytes(tmp_path: Path, blob: bytes, message: str) -> None:
    from rlaif_audit.loop.config import read_toml

    with pytest.raises(InputError, match=message):
        read_toml(_write(tmp_path, "run.toml", blob))


def test_run_config_finite_values_still_read(tmp_path: Path) -> None:
    from rlaif_audit.loop.config import build_config

    config = build_config(_write(tmp_path, "run.toml", seeds.RUN_TOML))
    assert config.temperature == 0.7 and config.evaluator_options == {"bias": 0.1} and config.rl_steps == 2


@pytest.mark.parametrize(("blob", "message"), [
    (b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n',
     r"p\.jsonl:2: not UTF-8 \(invalid continuation byte at byte 32 of the file"),
    (b'{"prompt": "x \\udfff"}\n', r"p\.jsonl:1: not valid JSON \(a string holds a lone surrogate escape"),
    (b'{"prompt": "x", "category": ["a"]}\n', r"p\.jsonl:1: field 'category': must be a string"),
    (b'{"prompt": "x", "id": true}\n', r"p\.jsonl:1: field 'id': must be a non-empty string"),
])
def test_prompt_file_hostile_bytes(tmp_path: Path, blob: bytes, message: str) -> None:
    from rlaif_audit.loop.prompts import read_prompts

    with pytest.raises(InputError, match=message):
        read_prompts(_write(tmp_path, "p.jsonl", blob))


def test_corrupt_parquet_page_is_an_input_error(tmp_path: Path) -> None:
    """A string in a data page that is not UTF-8 (a corrupt page) raised UnicodeDecodeError from pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlaif_audit.data.pairs import read_pairs

    handle = io.BytesIO()
    table = pa.Table.from_pylist([{"id": "p1", "context": "Say hi", "a": "MARKERMARKER", "b": "hello"}])
    pq.write_table(table, handle, compression="none", use_dictionary=False, write_statistics=False)
    blob = handle.getvalue()
    where = blob.index(b"MARKERMARKER")
    path = _write(tmp_path, "pairs.parquet", blob[:where] + b"\xff\xfe" + blob[where + 2:])
    with pytest.raises(InputError, match=r"pairs\.parquet: a string value of row 0 or after is not UTF-8"):
        read_pairs(path)


def test_json_pair_file_is_read(tmp_path: Path) -> None:
    from rlaif_audit.data.pairs import read_pairs

    path = _write(tmp_path, "pairs.json", json.dumps(seeds.NATIVE_PAIRS, indent=1).encode())
    pair_set = read_pairs(path)
    assert [pair.id for pair in pair_set.pairs] == ["p1", "p2", "3"]
    assert len(pair_set.labels) == 2


def test_human_labels_csv_and_parquet_through_the_human_option(tmp_path: Path) -> None:
    """`audit --human labels.csv` (and .parquet) reads the documented rlaif-audit label table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.records.types import PreferencePair

    pairs = [PreferencePair(pid, [{"role": "user", "content": "q"}], "x", "y", {}) for pid in ("p1", "p2", "3")]
    inputs = AuditInputs(pairs, None, [])  # type: ignore[arg-type]
    csv_path = _write(tmp_path, "labels.csv", seeds.csv_bytes(seeds.LABELS))
    parquet_path = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist([{**row, "pair_id": str(row["pair_id"]), "annotator": row.get("annotator")}
                                         for row in seeds.LABELS]), parquet_path)
    for path in (csv_path, parquet_path):
        labels = inputs.with_human(str(path)).labels
        assert [(label.pair_id, label.preferred, label.annotator) for label in labels] == [
            ("p1", "a", "h1"), ("p2", "tie", "human"), ("3", "b", "h2")]


def test_audit_cli_accepts_the_documented_human_label_csv(tmp_path: Path) -> None:
    from rlaif_audit.testing import write_synthetic_pairs

    data = write_synthetic_pairs(tmp_path / "pairs.jsonl", 30, seed=3)
    judgments = tmp_path / "judgments.jsonl"
    assert run_cli(["label", data, "-e", "synthetic", "-o", judgments, "-q"]).exit_code == 0
    ids = [json.loads(line)["id"] for line in data.read_text().splitlines()][:12]
    labels = tmp_path / "labels.csv"
    labels.write_text("pair_id,preferred,annotator\n" + "".join(f"{pid},{'ab'[i % 2]},ann{i % 3}\n"
                                                                for i, pid in enumerate(ids)))
    result = run_cli(["audit", judgments, "--data", data, "--human", labels, "-o", tmp_path / "report",
                      "--n-bootstrap", "20"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["data"]["n_labels"] == 12
