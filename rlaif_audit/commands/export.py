"""`rlaif-audit export`: AI-labeled pairs as a TRL preference dataset, position-debiased, with a drop manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rlaif_audit import hookimpl
from rlaif_audit.data.export import POLICIES, Export, build_export

if TYPE_CHECKING:
    from rlaif_audit.data.inputs import AuditInputs

DATA_FILE = "train.jsonl"
MANIFEST_FILE = "manifest.json"


def manifest(export: Export, inputs: AuditInputs, settings: dict[str, Any]) -> dict[str, Any]:
    """What was exported from what, and every dropped pair with its reason."""
    from collections import Counter

    from rlaif_audit.reporting.model_card import source_label

    sources = Counter(row["label_source"] for row in export.rows)
    evaluators = sorted({str(e) for e in inputs.judgments.get("evaluator", [])})
    return {"format": "TRL preference dataset: conversational prompt / chosen / rejected (JSONL)",
            "file": DATA_FILE, "settings": settings,
            "judgments": {"file": Path(str(inputs.judgments_path or "")).name, "hash": inputs.judgments_hash},
            "data": {"source": source_label(inputs.source), "hash": inputs.data_hash}, "evaluators": evaluators,
            "counts": {"pairs": len(export.rows) + len(export.dropped), "rows": len(export.rows),
                       "ai_labeled": sources.get("ai", 0), "human_labeled": sources.get("human", 0),
                       "dropped": dict(Counter(d["reason"] for d in export.dropped))},
            "dropped": export.dropped}


def write_export(folder: Path, export: Export, about: dict[str, Any]) -> None:
    """Write train.jsonl and manifest.json into ``folder`` through a temporary folder and one rename."""
    import os
    import shutil

    from rlaif_audit.records.fileio import atomic_write_json, make_temp_dir, write_jsonl

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(folder)
    try:
        write_jsonl(tmp / DATA_FILE, export.rows)
        atomic_write_json(tmp / MANIFEST_FILE, about)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output(folder: Path) -> None:
    """Refuse an output folder that holds anything but a previous export (exit 2)."""
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / MANIFEST_FILE).is_file())):
        raise click.UsageError(f"{folder}: exists and is not a previous export (no {MANIFEST_FILE}); choose a new "
                               "folder")


@click.command(name="export")
@click.argument("judgments", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="The pairs the judgments judge (any `label` DATA: file, folder, hf://).")
@click.option("--human", default=None, type=click.Path(dir_okay=False),
              help="Human labels (e.g. review-queue answers) that override the AI label of their pairs.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Dataset folder: train.jsonl (prompt/chosen/rejected) and manifest.json.")
@click.option("--filter", "policy", type=click.Choice(POLICIES), default="drop-inconsistent", show_default=True,
              help="drop-inconsistent: keep pairs both orders decide the same way; soft: keep every pair with a "
              "position-debiased preference, its P(chosen) as p_chosen and a margin column.")
@click.option("--margin", is_flag=True, help="Add RewardTrainer's margin column (2·P(chosen) − 1) with "
              "drop-inconsistent too.")
@click.option("--tie-band", type=click.FloatRange(min=0.0, max=0.5, max_open=True), default=0.0, show_default=True,
              help="A P within this distance of ½ is a tie (records.preference.choice_codes).")
@click.option("--ai-only", is_flag=True, help="Ignore human labels (DATA's chosen/rejected or --human): AI labels "
              "only.")
@click.option("--format", "fmt", default="auto", show_default=True, help="Format of JUDGMENTS (as `audit`).")
@click.option("--ab-seed", type=int, default=None, help="The A/B seed of DATA with chosen/rejected (default: the one "
              "recorded in JUDGMENTS).")
@click.option("--split", default="test", show_default=True, help="Split, when DATA is a Hugging Face dataset.")
@click.option("--data-dir", default=None, help="data_dir, when DATA is a Hugging Face dataset.")
def command(judgments: str, data: str | None, human: str | None, output: str, policy: str, margin: bool,
            tie_band: float, ai_only: bool, fmt: str, ab_seed: int | None, split: str, data_dir: str | None) -> None:
    """Export AI-labeled pairs as a TRL preference dataset (position-debiased, filtered, human labels first)."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.host import get_plugin_manager

    folder = Path(output)
    check_output(folder)
    pm = get_plugin_manager()
    inputs = AuditInputs.from_file(judgments, fmt, data=data, ab_seed=ab_seed, split=split, data_dir=data_dir, pm=pm)
    if human:
        inputs = inputs.with_human(human, pm)
    for warning in inputs.warnings:
        click.echo(f"Warning: {warning}", err=True)
    pairs = build_context(inputs, n_bootstrap=0).pairs
    export = build_export(pairs, policy, tie_band, not ai_only, margin)
    settings = {"filter": policy, "margin": margin or policy == "soft", "tie_band": tie_band,
                "human_override": not ai_only, "human": Path(human).name if human else None}
    about = manifest(export, inputs, settings)
    write_export(folder, export, about)
    counts = about["counts"]
    click.echo(f"{folder / DATA_FILE}: {counts['rows']} pairs ({counts['ai_labeled']} AI-labeled, "
               f"{counts['human_labeled']} human-labeled); dropped {len(export.dropped)}"
               + "".join(f"\n  {n} × {reason}" for reason, n in counts["dropped"].items()))


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit export``."""
    cli.add_command(command)
