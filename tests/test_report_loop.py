"""The loop's side of the report: the end-of-run summary reads the auditors' ``run_summary`` declarations from a
report.json on disk, and a checkpoint's model card links the report's PNG figures."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from rlaif_audit.auditing.auditor import Metric
from rlaif_audit.reporting.report import AuditorOutcome, Report


def fake_run(folder: Path, pm) -> SimpleNamespace:
    """What summary_lines and model_card read of a Run: folder, manifest, config, generation folders, plugins."""
    config = SimpleNamespace(generations=1, reward="model", algorithm="grpo", evaluator="synthetic", policy="tiny",
                             seed=3)
    return SimpleNamespace(folder=folder, manifest={"status": "done", "stages": {"generate": {"seconds": 2.0}}},
                           config=config, gen_dir=lambda generation: folder / f"gen-{generation}",
                           path=lambda generation, name: folder / f"gen-{generation}" / name, pm=pm)


def test_run_summary_prints_the_declared_metrics_with_their_labels(pm, tmp_path: Path) -> None:
    from rlaif_audit.loop.summary import summary_lines

    win = Metric(0.7, (0.6, 0.8), 20, "bootstrap")
    report = Report(
        auditors={"position": AuditorOutcome(metrics={"consistent": Metric(0.55, (0.5, 0.6), 40),
                                                      "conflict_rate": Metric(0.45, (0.4, 0.5), 40)}),
                  "reward-hacking": AuditorOutcome(metrics={"evaluator_win_rate": win,
                                                            "evaluator_p_policy": Metric(0.6, None, 20)}),
                  "mode-collapse": AuditorOutcome(status="skipped", reason="no policy samples")},
        run={"reward_model": {"metrics": {"accuracy_vs_ai": {"value": 0.9, "ci": [0.85, 0.95], "n": 100}}}})
    (tmp_path / "gen-0" / "audit").mkdir(parents=True)
    (tmp_path / "gen-0" / "audit" / "report.json").write_text(json.dumps(report.to_dict()), encoding="utf-8")
    lines = summary_lines(fake_run(tmp_path, pm))
    headline = lines[lines.index(f"audit report: {tmp_path / 'gen-0' / 'audit' / 'report.html'}") + 1:]
    assert headline == [
        "  reward model accuracy vs AI labels (held out): 0.9 [95% CI 0.85, 0.95] n=100",
        "  evaluator position consistency (MT-Bench): 0.55 [95% CI 0.5, 0.6] n=40",
        "  evaluator win rate, policy vs reference: 0.7 [95% CI 0.6, 0.8] n=20",
    ]


def test_model_card_links_the_png_figures_beside_it(pm, tmp_path: Path) -> None:
    from test_report import make_report

    from huggingface_hub import ModelCard

    from rlaif_audit.loop.reports import model_card
    from rlaif_audit.reporting.builder import write_report
    from rlaif_audit.reporting.model_card import MARKER_BEGIN

    report = make_report(pm)
    write_report(report, tmp_path, pm, ["markdown"])
    card = model_card(fake_run(tmp_path, pm), 0, report, "policy", tmp_path)
    data = ModelCard(card, ignore_metadata_errors=False).data
    assert data.library_name == "transformers" and "rlaif-audit" in data.tags and data.eval_results
    assert f"{MARKER_BEGIN}\n## RLAIF audit" in card and str(tmp_path) not in card
    assert "### Figures" in card and "![length curve](figures/length-length_curve.png)" in card
    assert (tmp_path / "figures" / "length-length_curve.png").is_file()
    assert "### Figures" not in model_card(fake_run(tmp_path, pm), 0, report, "policy", tmp_path / "elsewhere")
