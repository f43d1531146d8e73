"""What a new TRL user found missing (issue 12): number formatting, figure ticks and whiskers, one agreement line
for `label` and `audit`, run-only auditors, the loop's preference file in TRL's trainers, stage timing, report_to."""

from __future__ import annotations

import math

import pytest


def test_small_numbers_keep_significant_digits() -> None:
    from rlaif_audit.reporting.text import fmt_ci, fmt_interval, fmt_number

    assert fmt_number(2.9e-4) == "0.00029"
    assert fmt_ci([1.1e-4, 4.8e-4]) == "[0.00011, 0.00048]"
    assert fmt_interval([-2.5e-5, 3.4e-3], "n<30") == "[-2.5e-05, 0.0034] (n<30)"
    assert (fmt_number(0.0), fmt_number(0.5), fmt_number(0.0123), fmt_number(12345.6)) == ("0.000", "0.500", "0.012",
                                                                                         "1.235e+04")
    assert float(fmt_number(-7.3e-7)) == pytest.approx(-7.3e-7)


@pytest.mark.parametrize("scale", [1e-3, 1e-6, 1.0])
def test_line_plot_ticks_read_their_values(scale: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from rlaif_audit.reporting.chart_data import LinePlot, Series
    from rlaif_audit.reporting.figures import draw

    values = [2.9 * scale, 1.1 * scale, 3.3 * scale, 4.1 * scale]
    figure = draw(LinePlot("KL", "step", "kl", [Series("kl", [0, 1, 2, 3], values)]))
    FigureCanvasAgg(figure).draw()
    axes = figure.axes[0]
    labels = [t.get_text().replace("\u2212", "-") for t in axes.get_yticklabels()]
    assert axes.yaxis.get_offset_text().get_text() == ""
    assert len(set(labels)) == len(labels)
    for location, label in zip(axes.get_yticks(), labels):
        assert math.isclose(float(label), location, rel_tol=1e-6, abs_tol=1e-3 * scale), (labels, location)


def test_report_to_reaches_the_trainer_arguments() -> None:
    from types import SimpleNamespace

    from rlaif_audit.errors import ConfigError
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.training import trainer_arguments

    assert build_config(preset="smoke").report_to == []
    config = build_config(preset="smoke", overrides={"report_to": ["tensorboard", "trackio"]})
    arguments = trainer_arguments(SimpleNamespace(config=config, progress=False), "out", 0)
    assert arguments["report_to"] == ["tensorboard", "trackio"]
    with pytest.raises(ConfigError, match="report_to"):
        build_config(preset="smoke", overrides={"report_to": 3})


def test_docs_give_one_smoke_duration() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    duration = re.compile(r"(\d+(?:[.–-]\d+)?\s*(?:s|min|minutes?)\b|a few minutes|seconds|minutes)")
    found = []
    for doc in (root / "README.md", root / "docs" / "run.md"):
        for line in doc.read_text(encoding="utf-8").splitlines():
            for part in re.split(r"(?<=[.;)])\s", line):
                if "smoke" in part and duration.search(part):
                    found.append(part)
    assert found and all("about 1 min" in part for part in found), found


def _cli(args: list) -> object:
    from click.testing import CliRunner

    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


@pytest.fixture(scope="module")
def synthetic_labeled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """60 synthetic pairs with human labels, judged by the synthetic evaluator through `label`."""
    from rlaif_audit.testing import write_synthetic_pairs

    folder = tmp_path_factory.mktemp("polish")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 60, seed=3)
    judgments = folder / "judgments.jsonl"
    labeled = _cli(["label", data, "-e", "synthetic", "-O", "noise=0.6", "-o", judgments, "-q"])
    assert labeled.exit_code == 0, labeled.output
    return {"data": data, "judgments": judgments, "label_output": labeled.output, "folder": folder}


def test_run_only_auditors_are_marked_and_listed_once(synthetic_labeled: dict) -> None:
    import json

    listing = _cli(["auditors"])
    lines = {line.split(":")[0].split(" ")[0]: line for line in listing.output.splitlines()}
    assert "run-only" in lines["policy-kl"] and "run-only" not in lines["agreement"]
    rows = {row["name"]: row for row in json.loads(_cli(["auditors", "--json"]).output)}
    assert rows["reward-hacking"]["run_only"] and not rows["position"]["run_only"]

    out = synthetic_labeled["folder"] / "report"
    result = _cli(["audit", synthetic_labeled["judgments"], "--data", synthetic_labeled["data"], "-o", out,
                   "--n-bootstrap", "50"])
    assert result.exit_code == 0, result.output
    run_only = [name for name, row in rows.items() if row["run_only"]]
    for text in (result.output, (out / "report.md").read_text(encoding="utf-8"),
                 (out / "report.html").read_text(encoding="utf-8")):
        assert text.count("Not applicable here (run-only):") == 1
        line = next(line for line in text.splitlines() if "Not applicable here (run-only):" in line)
        assert all(name in line for name in run_only), line
        assert not any(f"{name}** — skipped" in text or f"<b>{name}</b> — skipped" in text
                       or f"skipped: {name}" in text for name in run_only)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["auditors"]["policy-kl"]["status"] == "skipped"  # report.json keeps them (gates name them)


def test_reliability_diagram_has_bin_counts_and_wilson_whiskers() -> None:
    from matplotlib.collections import LineCollection

    from rlaif_audit.auditing.stats import wilson_interval
    from rlaif_audit.reporting.chart_data import plot_for
    from rlaif_audit.reporting.figures import draw

    bins = [{"lo": 0.0, "hi": 0.4, "conf": 0.3, "acc": 0.25, "count": 8},
            {"lo": 0.4, "hi": 0.7, "conf": 0.55, "acc": 0.6, "count": 40},
            {"lo": 0.7, "hi": 1.0, "conf": 0.85, "acc": 0.9, "count": 20}]
    plot = plot_for("reliability", {"scheme": "equal_mass", "bins": bins}, "Reliability (equal mass)")
    series = plot.series[0]
    for i, row in enumerate(bins):
        # known answer: Wilson at 0.6 of 40 is about [0.446, 0.736]
        assert series.whisker(i) == pytest.approx(wilson_interval(row["acc"] * row["count"], row["count"]))
    assert series.whisker(1) == pytest.approx((0.4457, 0.7359), abs=1e-3)
    axes = draw(plot).axes[0]
    assert sorted(t.get_text() for t in axes.texts) == ["n = 20", "n = 40", "n = 8"]
    segments = [s for c in axes.collections if isinstance(c, LineCollection) for s in c.get_segments()]
    assert len(segments) == 3


@pytest.fixture()
def loop_preferences(tmp_path) -> object:
    """The loop's preferences.jsonl for 4 decisive pairs, written by the label stage's own code."""
    from types import SimpleNamespace

    from rlaif_audit.loop.label import preference_rows
    from rlaif_audit.records.fileio import write_jsonl
    from rlaif_audit.records.types import PreferencePair

    run = SimpleNamespace(seed=lambda generation, stage: 11, config=SimpleNamespace(rm_eval_fraction=0.25))
    pairs = [PreferencePair(f"p{i}", [{"role": "user", "content": f"Name a colour, please ({i})."}],
                            f"Blue is a colour number {i}.", "No.", {"prompt_id": f"q{i}"}) for i in range(4)]
    path = tmp_path / "preferences.jsonl"
    write_jsonl(path, preference_rows(run, 0, pairs, {"p0": 0.9, "p1": 0.2, "p2": 0.8, "p3": 0.1}))
    return path


TRAINING = {"max_steps": 1, "per_device_train_batch_size": 2, "report_to": [], "use_cpu": True,
            "save_strategy": "no", "logging_steps": 1, "max_length": 96, "dataloader_num_workers": 0,
            "disable_tqdm": True}


def test_loop_preferences_train_reward_trainer(loop_preferences, tmp_path, tiny_reward_model) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    dataset = load_dataset("json", data_files=str(loop_preferences), split="train")
    assert [row[0]["content"] for row in dataset["chosen"]] == ["Blue is a colour number 0.", "No.",
                                                                 "Blue is a colour number 2.", "No."]
    args = RewardConfig(output_dir=str(tmp_path / "rm"), **TRAINING)
    trainer = RewardTrainer(model=str(tiny_reward_model), args=args, train_dataset=dataset,
                            processing_class=AutoTokenizer.from_pretrained(tiny_reward_model))
    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss)


def test_loop_preferences_train_dpo_trainer(loop_preferences, tmp_path, tiny_model) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    dataset = load_dataset("json", data_files=str(loop_preferences), split="train")
    trainer = DPOTrainer(model=str(tiny_model), args=DPOConfig(output_dir=str(tmp_path / "dpo"), **TRAINING),
                         train_dataset=dataset, processing_class=AutoTokenizer.from_pretrained(tiny_model))
    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss)


def test_label_and_audit_print_the_same_agreement(synthetic_labeled: dict) -> None:
    import re

    printed = re.search(r"agreement\.accuracy_without_ties: (.*)$", synthetic_labeled["label_output"], re.M)
    assert printed, synthetic_labeled["label_output"]
    out = synthetic_labeled["folder"] / "same"
    result = _cli(["audit", synthetic_labeled["judgments"], "--data", synthetic_labeled["data"], "-o", out])
    assert result.exit_code == 0, result.output
    assert f"  agreement.accuracy_without_ties: {printed.group(1)}\n" in result.output, (printed.group(1),
                                                                                         result.output)


def test_generation_report_draws_stage_times_and_the_reward_model_training_curve(tmp_path) -> None:
    import pandas as pd

    from rlaif_audit.auditing.auditor import AuditContext
    from rlaif_audit.default_plugins.auditors import run_records as ar
    from rlaif_audit.reporting.report import AuditorOutcome
    from rlaif_audit.reporting.figures import auditor_figures, draw

    stages = [{"stage": "gen-0/generate", "seconds": 67.0}, {"stage": "gen-0/label", "seconds": 40.5},
              {"stage": "gen-0/audit", "seconds": 101.0}]
    log = [{"step": 1, "loss": 0.69}, {"step": 2, "loss": 0.61}, {"step": 3, "loss": 0.55}]
    accuracy = {"value": 0.75, "ci": [0.5, 0.9], "n": 20, "method": "Wilson"}
    ctx = AuditContext(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), options={"policy": {
        "samples": [{"prompt_id": "p0", "sample": 0, "policy_text": "a", "reference_text": "b"}], "log": [],
        "reward": "model", "stages": stages,
        "reward_model": {"accuracy_vs_ai": accuracy, "training_log": log}}})
    drawn = {}
    for cls in (ar.RunStagesAuditor, ar.RewardModelAuditor):
        outcome = AuditorOutcome.from_result(cls().audit(ctx), cls)
        for spec in auditor_figures(cls.name, outcome):
            drawn[spec.name] = (spec.plot(), draw(spec.plot()).axes[0])
    bars, axes = drawn["stage_seconds"]
    assert bars.labels == ["gen-0/generate", "gen-0/label", "gen-0/audit"] and bars.values == [67.0, 40.5, 101.0]
    assert [t.get_text() for t in axes.get_yticklabels()] == bars.labels
    assert sorted(t.get_text() for t in axes.texts) == ["101.0", "40.5", "67.0"]
    curve, _ = drawn["training_curve"]
    assert curve.series[0].x == [1, 2, 3] and curve.series[0].y == [0.69, 0.61, 0.55]


def test_reward_model_stage_keeps_the_trainer_log() -> None:
    from types import SimpleNamespace

    from rlaif_audit.loop.training import training_log

    history = [{"loss": 0.7, "grad_norm": 1.5, "learning_rate": 1e-5, "step": 1, "epoch": 0.5},
               {"loss": 0.6, "step": 2, "epoch": 1.0}, {"train_runtime": 3.0, "train_loss": 0.65, "step": 2}]
    rows = training_log(SimpleNamespace(state=SimpleNamespace(log_history=history)))
    assert [(row["step"], row["loss"]) for row in rows] == [(1, 0.7), (2, 0.6)]


def test_loop_progress_bars_carry_the_stage_name(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from transformers.trainer_callback import ProgressCallback

    from rlaif_audit.loop.training import quiet
    from rlaif_audit.progress import progress_bar, stage_progress

    @stage_progress("label")
    def fake_stage(run: object, generation: int) -> str:
        bar = progress_bar(4, True, "judgment")
        bar.update(4)
        bar.close()
        return bar.desc

    assert fake_stage(None, 0) == "gen-0/label"
    assert "gen-0/label" in capsys.readouterr().err

    added: list = []
    trainer = SimpleNamespace(pop_callback=lambda cls: ProgressCallback(), remove_callback=lambda cls: None,
                              add_callback=added.append)
    quiet(trainer)

    @stage_progress("reward_model")
    def train(run: object, generation: int) -> str:
        state = SimpleNamespace(is_world_process_zero=True, max_steps=3)
        added[0].on_train_begin(SimpleNamespace(), state, SimpleNamespace())
        added[0].training_bar.close()
        return added[0].training_bar.desc

    assert train(None, 1) == "gen-1/reward_model"
