"""The human round trip inside a run: gen-0's review queue answered and imported, gen-1 trains and audits with it."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl

pytestmark = pytest.mark.slow  # real TRL training of tiny config-built models (two generations)


class StopAfterGenerationZero:
    """Interrupts the run right after gen-0's audit marker, as a user pressing Ctrl-C to answer the queue."""

    @hookimpl
    def on_stage_end(self, run: Any, generation: int, stage: str, stats: dict[str, Any]) -> None:
        if generation == 0 and stage == "audit":
            raise KeyboardInterrupt


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cli(*args: str) -> Any:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), list(args))


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Path:
    """A two-generation smoke run on the tiny model, stopped after gen-0's audit."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import create_run, execute

    folder = tmp_path_factory.mktemp("review-loop") / "run"
    overrides = {"policy": tiny_model, "evaluator": "hf-judge", "generations": 2, "evaluator_succession": "pinned",
                 "evaluator_options": {"model": tiny_model, "batch_size": 4}, "rl_steps": 1, "n_bootstrap": 100,
                 "audit_samples": 1}
    pm = get_plugin_manager()
    pm.register(StopAfterGenerationZero(), name="stop-after-gen-0")
    run = create_run(folder, build_config(preset="smoke", overrides=overrides), pm)
    run.progress = False
    with pytest.raises(KeyboardInterrupt):
        execute(run)
    assert (folder / "gen-0" / "stages" / "audit.done.json").exists()
    assert not (folder / "gen-1" / "stages" / "label.done.json").exists()
    return folder


def answer_tasks(tasks_csv: Path, answers_csv: Path, choices: list[str]) -> list[dict[str, str]]:
    """Fill review_tasks.csv's human_choice column as a labeling tool would, one choice per row in order."""
    with tasks_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row, choice in zip(rows, choices):
        row["human_choice"] = choice
    with answers_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def resumed_run(stopped_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Gen-0's queue exported as CSV, answered (a, b, ..., one tie), imported into the run, the run resumed."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.run import execute, open_run

    work = tmp_path_factory.mktemp("answers")
    exported = cli("review", "export", str(stopped_run / "gen-0" / "audit"), "-o", str(work), "--formats", "csv")
    assert exported.exit_code == 0, exported.output
    n_tasks = len(read_rows(stopped_run / "gen-0" / "audit" / "review_queue.jsonl"))
    assert n_tasks >= 3, "the tiny judge's gen-0 queue must hold a few pairs to answer"
    choices = ["a" if i % 2 == 0 else "b" for i in range(n_tasks)]
    choices[-1] = "tie"
    rows = answer_tasks(work / "review_tasks.csv", work / "answers.csv", choices)
    imported = cli("review", "import", str(work / "answers.csv"), "--run", str(stopped_run), "--generation", "0")
    assert imported.exit_code == 0, imported.output
    assert "Generations 1 will use them" in imported.output
    run = open_run(stopped_run, get_plugin_manager())
    run.progress = False
    execute(run)
    return {"folder": stopped_run, "answers": {row["pair_id"]: row["human_choice"] for row in rows}, "rows": rows}


def test_next_generation_trains_on_human_labels(resumed_run: dict[str, Any]) -> None:
    folder, answers = resumed_run["folder"], resumed_run["answers"]
    pairs = {row["id"]: row for row in read_rows(folder / "gen-0" / "pairs.jsonl")}
    preferences = read_rows(folder / "gen-1" / "preferences.jsonl")
    human = {row["pair_id"]: row for row in preferences if row["label_source"] == "human"}
    decisive = {pair_id: choice for pair_id, choice in answers.items() if choice != "tie"}
    assert set(human) == set(decisive)
    for pair_id, choice in decisive.items():
        pair = pairs[pair_id]
        winner, loser = (pair["a"], pair["b"]) if choice == "a" else (pair["b"], pair["a"])
        assert human[pair_id]["chosen"] == [{"role": "assistant", "content": winner}]
        assert human[pair_id]["rejected"] == [{"role": "assistant", "content": loser}]
        assert human[pair_id]["split"] == "train" and human[pair_id]["answered_in"] == "gen-0"
    assert all(row["pair_id"].startswith("g1-") for row in preferences if row["label_source"] == "ai")
    had_ai_label = {row["pair_id"] for row in read_rows(folder / "gen-0" / "preferences.jsonl")}
    marker = json.loads((folder / "gen-1" / "stages" / "label.done.json").read_text())["outputs"]["human_review"]
    assert marker["overridden"] == len(set(decisive) & had_ai_label)
    assert marker["added"] == len(set(decisive) - had_ai_label)
    assert marker["human_ties_dropped"] == 1 and marker["human_train_pairs"] == len(decisive)
    assert marker["answers"][0]["answers"] == "gen-0/review/answers.jsonl"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["stages"]["gen-1/label"]["outputs"]["human_review"] == marker
    reward = manifest["stages"]["gen-1/reward_model"]["outputs"]["metrics"]
    assert reward["human_train_pairs"] == len(decisive)
    assert reward["train_pairs"] == sum(row["split"] == "train" for row in preferences)


def test_next_generation_audits_agreement_with_the_answers(resumed_run: dict[str, Any]) -> None:
    from rlaif_audit.loop.ai_feedback import debiased_preferences
    from rlaif_audit.records.preference import CHOICE_NAMES, choice_codes

    folder, answers = resumed_run["folder"], resumed_run["answers"]
    report = json.loads((folder / "gen-1" / "audit" / "report.json").read_text())
    agreement = report["auditors"]["agreement"]
    assert agreement["status"] == "ok", agreement
    p_a = debiased_preferences(folder / "gen-1" / "audit" / "human_review.judgments.jsonl")
    assert set(p_a) == set(answers)
    judge = {pair_id: CHOICE_NAMES[int(choice_codes(value))] for pair_id, value in p_a.items()}
    exact = agreement["metrics"]["accuracy_with_ties"]
    assert exact["n"] == len(answers)
    assert exact["value"] == pytest.approx(sum(judge[k] == v for k, v in answers.items()) / len(answers))
    assert len(exact["ci"]) == 2
    assert any("gen-0/review/answers.jsonl" in note for note in agreement["notes"])
    gen1_queue = read_rows(folder / "gen-1" / "audit" / "review_queue.jsonl")
    assert all(task["pair_id"].startswith("g1-") for task in gen1_queue), "gen-1's own queue, for the next round"
    marker = json.loads((folder / "gen-1" / "stages" / "audit.done.json").read_text())["outputs"]
    assert marker["human_review"]["pairs"] == len(answers)


def test_bad_answers_exit_2_and_write_nothing(stopped_run: Path, tmp_path: Path) -> None:
    exported = cli("review", "export", str(stopped_run / "gen-0" / "audit"), "-o", str(tmp_path), "--formats", "csv",
                   "--force")
    assert exported.exit_code == 0, exported.output
    tasks = tmp_path / "review_tasks.csv"
    with tasks.open(newline="", encoding="utf-8") as handle:
        n_tasks = sum(1 for _ in csv.DictReader(handle))
    target = stopped_run / "gen-0" / "review" / "answers.jsonl"
    existed = target.read_bytes() if target.exists() else None

    rows = answer_tasks(tasks, tmp_path / "unknown.csv", ["a"] * n_tasks)
    rows[1]["pair_id"] = "g0-no-such-pair"
    with (tmp_path / "unknown.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    unknown = cli("review", "import", str(tmp_path / "unknown.csv"), "--run", str(stopped_run), "--generation", "0")
    assert unknown.exit_code == 2 and "unknown.csv:3: field 'pair_id'" in unknown.output

    blank = answer_tasks(tasks, tmp_path / "missing.csv", ["b"] * (n_tasks - 1) + [""])[-1]["pair_id"]
    missing = cli("review", "import", str(tmp_path / "missing.csv"), "--run", str(stopped_run), "--generation", "0")
    assert missing.exit_code == 2, missing.output  # the line is the CSV's physical line (cells hold newlines)
    assert re.search(r"missing\.csv:\d+: field 'human_choice': no answer for pair '" + re.escape(blank), missing.output)
    assert (target.read_bytes() if target.exists() else None) == existed, "nothing written by a failed import"

    no_queue = cli("review", "import", str(tmp_path / "missing.csv"), "--run", str(stopped_run), "--generation", "5")
    assert no_queue.exit_code == 2 and "no review queue" in no_queue.output
