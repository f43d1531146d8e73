"""`rlaif-audit export`: AI-labeled pairs as a TRL preference dataset, position-debiased, with a drop manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rlaif_audit import hookimpl

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rlaif_audit.data.inputs import AuditInputs

DATA_FILE = "train.jsonl"
MANIFEST_FILE = "manifest.json"
POLICIES = ("drop-inconsistent", "soft")
FAILED = "an order failed or is missing: no two-order decision"
INCONSISTENT = "position-inconsistent: the two orders pick different responses"
TIED = "a tie in one order or both (no decisive two-order agreement)"
SOFT_TIE = "position-debiased P(A) within the tie band of ½: no preference"
HUMAN_TIE = "human tie: the annotators split evenly"


@dataclass
class Export:
    """The rows of a preference dataset and, per dropped pair, why it was dropped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)


def ai_decisions(pairs: pd.DataFrame, policy: str, tie_band: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: P(A ≻ B) the export uses, the choice code it implies (records.preference), and the drop reason.

    ``drop-inconsistent``: the response both orders pick decisively (games rule), P(A) 1 or 0; any other pair is
    dropped with its reason. ``soft``: the position-debiased P(A) (``pair_p_a``); pairs within the tie band dropped.
    """
    import numpy as np

    from rlaif_audit.records.preference import (
        CHOICE_A,
        CHOICE_B,
        CHOICE_NONE,
        choice_codes,
        choice_score,
        content_choice,
        games_choice,
    )

    slot_ab = choice_codes(pairs["p_first_ab"].to_numpy(float), tie_band)
    slot_ba = choice_codes(pairs["p_first_ba"].to_numpy(float), tie_band)
    content_ab, content_ba = content_choice(slot_ab, "ab"), content_choice(slot_ba, "ba")
    failed = (content_ab == CHOICE_NONE) | (content_ba == CHOICE_NONE)
    if policy == "soft":
        p_a = pairs["p_a"].to_numpy(float)
        choice = np.where(failed, CHOICE_NONE, choice_codes(p_a, tie_band))
        reason = np.where(failed, FAILED, np.where((choice == CHOICE_A) | (choice == CHOICE_B), "", SOFT_TIE))
        return p_a, choice, reason
    choice = games_choice(content_ab, content_ba)
    decisive = {CHOICE_A, CHOICE_B}
    opposite = np.isin(content_ab, list(decisive)) & np.isin(content_ba, list(decisive)) & (content_ab != content_ba)
    reason = np.where(failed, FAILED, np.where(opposite, INCONSISTENT, np.where(np.isin(choice, list(decisive)), "",
                                                                                   TIED)))
    return choice_score(choice), choice, reason


def human_decisions(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the human share preferring A (NaN unlabeled) and its choice code (tie when split evenly)."""
    from rlaif_audit.records.preference import choice_codes

    share = pairs["human_p_a"].to_numpy(float) if "human_p_a" in pairs.columns else None
    if share is None:
        import numpy as np

        share = np.full(len(pairs), np.nan)
    return share, choice_codes(share)


def _message(text: str) -> list[dict[str, str]]:
    from rlaif_audit.records.types import assistant_turn

    return assistant_turn(text)


def build_export(pairs: pd.DataFrame, policy: str, tie_band: float, human_override: bool,
                 margin: bool) -> Export:
    """The dataset rows (prompt/chosen/rejected conversational, pair_id, label_source, p_chosen[, margin])."""
    from rlaif_audit.records.preference import CHOICE_A, CHOICE_B, CHOICE_NONE

    p_ai, choice_ai, reason_ai = ai_decisions(pairs, policy, tie_band)
    share, choice_human = human_decisions(pairs)
    use_human = human_override & (choice_human != CHOICE_NONE)
    out = Export()
    for i, row in enumerate(pairs.itertuples(index=False)):
        human = bool(use_human[i])
        choice, p_a = (choice_human[i], share[i]) if human else (choice_ai[i], p_ai[i])
        if choice not in (CHOICE_A, CHOICE_B):
            out.dropped.append({"pair_id": str(row.pair_id), "reason": HUMAN_TIE if human else str(reason_ai[i])})
            continue
        a_wins = choice == CHOICE_A
        p_chosen = float(p_a if a_wins else 1.0 - p_a)
        record = {"prompt": list(row.context or []), "chosen": _message(row.text_a if a_wins else row.text_b),
                  "rejected": _message(row.text_b if a_wins else row.text_a), "pair_id": str(row.pair_id),
                  "label_source": "human" if human else "ai", "p_chosen": round(p_chosen, 6)}
        if margin or policy == "soft":
            record["margin"] = round(2.0 * p_chosen - 1.0, 6)
        out.rows.append(record)
    return out


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
