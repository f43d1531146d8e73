"""The report.json of fixed audits (synthetic pairs with known biases, the bundled FastChat and AlpacaEval imports)
is unchanged by refactoring: compared with committed golden files, apart from timestamps, versions and paths."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

GOLDEN = Path(__file__).parent / "data" / "golden"
EXTERNAL = Path(__file__).parent / "data" / "external"
VOLATILE = {"created_at", "versions", "tool", "config_hash", "plugin",  # clock, libraries, temporary paths, module paths
            "identity_hashes"}  # an evaluator identity holds the library versions (transformers 5.24 vs 5.25)
ABSOLUTE_DATA_PATH = re.compile(r"/\S*?/tests/")
PATH_KEYS = {"path", "source", "command", "output", "judgments", "data", "human", "compare"}


def run_cli(args: list[Any]) -> Any:
    """The command with the installed plugins blocked: the golden reports are the built-ins' whatever is installed."""
    from importlib import metadata
    from unittest import mock

    from rlaif_audit.cli import build_cli
    from rlaif_audit.host import DISABLE_ENV, ENTRY_POINT_GROUP

    installed = ",".join(entry.name for entry in metadata.entry_points(group=ENTRY_POINT_GROUP))
    with mock.patch.dict(os.environ, {DISABLE_ENV: installed}):
        result = CliRunner().invoke(build_cli(), [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def normalise(obj: Any, key: str = "") -> Any:
    """The report without volatile fields; paths reduced to their file names; floats rounded to 9 digits."""
    if isinstance(obj, dict):
        dropped = VOLATILE | ({"hash"} if key == "judgments" else set())  # over judgments that carry the identity
        return {k: normalise(v, k) for k, v in obj.items() if k not in dropped and k != "seconds"}
    if isinstance(obj, list):
        return [normalise(v, key) for v in obj]
    if isinstance(obj, str) and key in PATH_KEYS:
        return " ".join(Path(word).name if "/" in word else word for word in obj.split(" "))
    if isinstance(obj, str):
        return ABSOLUTE_DATA_PATH.sub("<tests>/", obj)  # warnings name input files: the checkout's place differs
    if isinstance(obj, float):
        return float(f"{obj:.9g}") if math.isfinite(obj) else obj
    return obj


def synthetic_report(folder: Path) -> dict[str, Any]:
    from rlaif_audit.testing import write_synthetic_pairs

    data = write_synthetic_pairs(folder / "pairs.jsonl", 150, seed=11, n_annotators=1)
    judgments = folder / "judgments.jsonl"
    run_cli(["label", data, "-e", "synthetic", "-o", judgments, "-q", "-O", "position_bias=1.2", "-O", "noise=0.4",
             "-O", "length_pref=0.5", "-O", "temperature=0.7"])
    run_cli(["audit", judgments, "--data", data, "-o", folder / "report", "--n-bootstrap", "200",
             "--report-formats", "json"])
    return json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))


def fastchat_report(folder: Path) -> dict[str, Any]:
    judgments = EXTERNAL / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl"
    run_cli(["audit", judgments, "--human", EXTERNAL / "mt_bench_human_judgments.json", "-o", folder / "report",
             "--n-bootstrap", "200", "--report-formats", "json"])
    return json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))


def alpaca_report(folder: Path) -> dict[str, Any]:
    judgments = EXTERNAL / "alpaca_eval_annotations.json"
    run_cli(["audit", judgments, "--human", EXTERNAL / "alpaca_eval_human.json", "-o", folder / "report",
             "--n-bootstrap", "200", "--report-formats", "json"])
    return json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))


CASES = {"synthetic": synthetic_report, "fastchat": fastchat_report, "alpaca_eval": alpaca_report}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_json_matches_golden(name: str, tmp_path: Path) -> None:
    report = normalise(CASES[name](tmp_path))
    golden_path = GOLDEN / f"{name}.report.json"
    golden = normalise(json.loads(golden_path.read_text(encoding="utf-8")))
    assert report == golden, f"report.json of the {name} audit differs from {golden_path}"


if __name__ == "__main__":  # regenerate the golden files (only when a change of numbers is intended)
    import tempfile

    for case, build in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = normalise(build(Path(tmp)))
        (GOLDEN / f"{case}.report.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print("wrote", case)
