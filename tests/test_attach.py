"""`rlaif-audit attach REPORT_DIR CHECKPOINT_DIR`: the model card section, its metadata, idempotence, sidecar."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rlaif_audit.reporting.model_card import MARKER_BEGIN, MARKER_END

HAND_WRITTEN = ("---\nlicense: mit\ntags:\n- my-tag\n---\n# My model\r\n\r\nHand-written *text*, kept as is.\r\n\n"
                "## Usage\n\n```python\nprint('hi')\n```\n")


def run_cli(args: list) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def make_report(folder: Path, source: str = "data/pairs.jsonl", policy: bool = False, kappa: float = 0.5) -> Path:
    """A report.json with known numbers; ``policy``: also the loop's reward-model and reward-hacking auditors."""
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.reporting.report import AuditorOutcome, DataInfo, EvaluatorInfo, HeadlineRow, Report

    auditors = {"agreement": AuditorOutcome(status="ok", metrics={"cohen_kappa": Metric(kappa, (0.4, 0.6), 200)}),
                "position": AuditorOutcome(status="ok", metrics={"first_slot_preference": Metric(0.988, (0.97, 0.995),
                                                                                                 400)})}
    if policy:
        auditors["reward-model"] = AuditorOutcome(status="ok", metrics={
            "accuracy_vs_ai": Metric(0.7, (0.6, 0.8), 80), "accuracy_vs_humans": Metric(0.55, (0.45, 0.65), 90)})
        auditors["reward-hacking"] = AuditorOutcome(status="ok", metrics={
            "evaluator_win_rate": Metric(0.62, (0.52, 0.71), 64)})
    else:
        auditors["reward-model"] = AuditorOutcome(status="skipped", reason="no policy samples")
    report = Report(title="known", created_at="2026-12-03T00:00:00Z", tool_version="0.1.0",
                    evaluator=EvaluatorInfo(name="hf-judge", names=["hf-judge"], identity_hashes=["abc123"]),
                    data=DataInfo(source=source, hash="f" * 64, n_pairs=200), auditors=auditors,
                    headline=[HeadlineRow.of("agreement", "cohen_kappa", auditors["agreement"].metrics["cohen_kappa"])])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report.to_dict()), encoding="utf-8")
    (folder / "report.md").write_text("# report\n", encoding="utf-8")
    (folder / "figures").mkdir(exist_ok=True)
    (folder / "figures" / "position-mt_bench.png").write_bytes(b"\x89PNG fake")
    return folder


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"],
                                                    "_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}))
    (folder / "README.md").write_bytes(HAND_WRITTEN.encode("utf-8"))
    return folder


def test_attach_keeps_hand_written_content_and_loads_with_huggingface_hub(tmp_path, checkpoint):
    from huggingface_hub import ModelCard

    result = run_cli(["attach", make_report(tmp_path / "report"), checkpoint])
    assert result.exit_code == 0, result.output
    raw = (checkpoint / "README.md").read_bytes().decode("utf-8")
    body = HAND_WRITTEN.split("---\n", 2)[2]
    assert raw.split("\n---\n", 1)[1].startswith(body), "everything outside the markers is kept byte for byte"
    assert raw.count(MARKER_BEGIN) == 1 and raw.count(MARKER_END) == 1
    assert str(tmp_path) not in raw, "no absolute local paths in the card"
    card = ModelCard.load(checkpoint / "README.md", ignore_metadata_errors=False)
    data = card.data
    assert (data.license, data.base_model, data.pipeline_tag) == ("mit", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                                                  "text-generation")
    assert data.tags == ["my-tag", "rlaif-audit"]
    values = {r.metric_type: r.metric_value for r in data.eval_results}
    assert values == {"rlaif-audit/agreement.cohen_kappa": 0.5, "rlaif-audit/position.first_slot_preference": 0.988}
    assert (checkpoint / "rlaif-audit" / "report.json").is_file()
    assert "![" not in raw or "](rlaif-audit/figures/" in raw
    assert not (checkpoint / ".eval_results").exists(), "local data: no Hub benchmark to post results against"


def test_headline_sentences_say_what_the_numbers_mean(tmp_path, checkpoint):
    run_cli(["attach", make_report(tmp_path / "report", policy=True), checkpoint])
    text = (checkpoint / "README.md").read_text(encoding="utf-8")
    assert "The judge picks the response shown first 98.8% of the time (50% is no position bias)." in text
    evaluator = text.index("### AI evaluator")
    policy, reward = text.index("### Policy"), text.index("### Reward model")
    assert evaluator < policy < reward
    assert "`reward-model.accuracy_vs_humans` | 0.550 | [0.450, 0.650] | 90" in text[reward:]
    assert "`reward-hacking.evaluator_win_rate`" in text[policy:reward]


def test_attaching_twice_changes_nothing(tmp_path, checkpoint):
    report = make_report(tmp_path / "report", source="hf://Anthropic/hh-rlhf")
    assert run_cli(["attach", report, checkpoint]).exit_code == 0
    before = tree_digest(checkpoint)
    second = run_cli(["attach", report, checkpoint])
    assert second.exit_code == 0 and "nothing changed" in second.output
    assert tree_digest(checkpoint) == before


def test_a_new_report_replaces_only_the_section_and_its_model_index(tmp_path, checkpoint):
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    other = EvalResult(task_type="text-generation", dataset_type="gsm8k", dataset_name="GSM8K",
                       metric_type="accuracy", metric_value=0.31)
    front = ModelCardData(license="mit", model_name="ckpt", eval_results=[other]).to_yaml()
    (checkpoint / "README.md").write_bytes(f"---\n{front}\n---\n# Mine\n\ntext\n".encode())
    assert run_cli(["attach", make_report(tmp_path / "r1", kappa=0.5), checkpoint]).exit_code == 0
    first = (checkpoint / "README.md").read_text()
    assert run_cli(["attach", make_report(tmp_path / "r2", kappa=0.25), checkpoint]).exit_code == 0
    second = (checkpoint / "README.md").read_text()
    assert first.split(MARKER_BEGIN)[0].split("\n---\n", 1)[1] == second.split(MARKER_BEGIN)[0].split("\n---\n", 1)[1]
    assert second.count(MARKER_BEGIN) == 1 and "| 0.250 |" in second and "| 0.500 |" not in second
    results = ModelCard.load(checkpoint / "README.md").data.eval_results
    assert [(r.metric_type, r.metric_value) for r in results][:2] == [("accuracy", 0.31),
                                                                      ("rlaif-audit/agreement.cohen_kappa", 0.25)]


def test_hub_dataset_gets_eval_results_entries(tmp_path, checkpoint):
    import yaml
    from huggingface_hub import ModelCard, parse_eval_result_entries

    assert run_cli(["attach", make_report(tmp_path / "r", source="hf://Anthropic/hh-rlhf"), checkpoint]).exit_code == 0
    entries = parse_eval_result_entries(yaml.safe_load((checkpoint / ".eval_results" / "rlaif-audit.yaml").read_text()))
    assert {(e.dataset_id, e.task_id, e.value) for e in entries} == {
        ("Anthropic/hh-rlhf", "rlaif-audit/agreement.cohen_kappa", 0.5),
        ("Anthropic/hh-rlhf", "rlaif-audit/position.first_slot_preference", 0.988)}
    assert ModelCard.load(checkpoint / "README.md").data.datasets == ["Anthropic/hh-rlhf"]


def test_attach_to_a_tiny_model_checkpoint_without_a_card(tmp_path, tiny_model):
    from huggingface_hub import ModelCard

    checkpoint = tmp_path / "tiny"
    shutil.copytree(tiny_model, checkpoint)
    (checkpoint / "README.md").unlink(missing_ok=True)
    assert run_cli(["attach", make_report(tmp_path / "r"), checkpoint, "--license", "apache-2.0"]).exit_code == 0
    card = ModelCard.load(checkpoint / "README.md")
    assert card.data.license == "apache-2.0" and card.data.library_name == "transformers"
    assert card.text.startswith("# tiny\n") and MARKER_BEGIN in card.text


@pytest.mark.parametrize("readme, expected", [
    (f"# x\n{MARKER_BEGIN}\nno end\n", "one rlaif-audit marker without the other"),
    ("---\n[unclosed\n---\n# x\n", "front matter is not valid YAML"),
])
def test_a_broken_card_is_exit_2_and_nothing_is_written(tmp_path, checkpoint, readme, expected):
    (checkpoint / "README.md").write_text(readme)
    before = tree_digest(checkpoint)
    result = run_cli(["attach", make_report(tmp_path / "r"), checkpoint])
    assert result.exit_code == 2 and expected in result.output, result.output
    assert tree_digest(checkpoint) == before


def test_a_missing_report_is_exit_2(tmp_path, checkpoint):
    result = run_cli(["attach", tmp_path / "none", checkpoint])
    assert result.exit_code == 2 and "no report.json" in result.output


def test_attach_a_report_audit_wrote_links_its_figures(tmp_path, checkpoint):
    import re

    from huggingface_hub import ModelCard

    from rlaif_audit.testing import write_synthetic_pairs

    data = write_synthetic_pairs(tmp_path / "pairs.jsonl", 60, seed=2)
    judged = tmp_path / "j.jsonl"
    assert run_cli(["label", data, "-e", "synthetic", "-o", judged, "-q", "-O", "position_bias=1.5"]).exit_code == 0
    assert run_cli(["audit", judged, "--data", data, "-o", tmp_path / "r", "--n-bootstrap", "50",
                    "--auditors", "agreement,position,length"]).exit_code == 0
    assert run_cli(["attach", tmp_path / "r", checkpoint]).exit_code == 0
    text = (checkpoint / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images and all((checkpoint / image).is_file() for image in images), images
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    first = report["auditors"]["position"]["metrics"]["first_slot_preference"]["value"]
    assert f"The judge picks the response shown first {first:.1%} of the time" in text
    results = {r.metric_type: r.metric_value for r in ModelCard.load(checkpoint / "README.md").data.eval_results}
    assert results["rlaif-audit/position.first_slot_preference"] == pytest.approx(first, abs=1e-6)
    assert str(tmp_path) not in text


@pytest.mark.parametrize("value", [None, float("nan")])
def test_a_metric_without_a_finite_value_is_left_out_of_the_model_index(tmp_path, checkpoint, value):
    """The Hub's model-index refuses a result without a value: such metrics stay in report.json only."""
    from huggingface_hub import ModelCard

    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.reporting.report import HeadlineRow, Report

    folder = make_report(tmp_path / "rep", policy=True)
    report = Report.from_dict(json.loads((folder / "report.json").read_text()))
    for name in ("accuracy_vs_ai", "accuracy_vs_humans"):  # none measured: the card falls back on the headline
        report.auditors["reward-model"].metrics[name] = Metric(value, None, 0)
        report.headline.append(HeadlineRow.of("reward-model", name, report.auditors["reward-model"].metrics[name]))
    (folder / "report.json").write_text(json.dumps(report.to_dict()), encoding="utf-8")
    result = run_cli(["attach", folder, checkpoint])
    assert result.exit_code == 0, result.output
    card = ModelCard.load(checkpoint / "README.md", ignore_metadata_errors=False)
    names = [r.metric_name for r in card.data.eval_results]
    assert "reward-hacking.evaluator_win_rate" in names and not [n for n in names if n.startswith("reward-model.")]
