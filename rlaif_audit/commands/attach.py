"""`rlaif-audit attach`: add (or update) an audit in a Hugging Face checkpoint's model card."""

from __future__ import annotations

from pathlib import Path

import click

from rlaif_audit import hookimpl


@click.command(name="attach")
@click.argument("report_dir", type=click.Path(file_okay=False))
@click.argument("checkpoint_dir", type=click.Path(file_okay=False))
@click.option("--base-model", default=None, help="Hub id of the model this checkpoint was tuned from (default: "
              "read from adapter_config.json or config.json when it is a Hub id).")
@click.option("--license", "license_id", default=None, help="License id for the card (e.g. apache-2.0); a license "
              "already in the card is kept.")
@click.option("--dataset", "datasets", multiple=True, help="Hub id of a training dataset, repeatable (default: the "
              "audited data when it is a Hub dataset).")
@click.option("--tag", "tags", multiple=True,
              help="A tag to add to the card, repeatable (rlaif-audit is always added).")
def command(report_dir: str, checkpoint_dir: str, base_model: str | None, license_id: str | None,
            datasets: tuple[str, ...], tags: tuple[str, ...]) -> None:
    """Attach an audit report to a checkpoint: README.md section, model-index, .eval_results and a report copy."""
    from rlaif_audit.commands.check import load_report
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.reporting.model_card import SIDECAR, CardError, attach_report

    checkpoint = Path(checkpoint_dir)
    if not checkpoint.is_dir():
        raise click.UsageError(f"{checkpoint}: no such checkpoint folder")
    load_report(report_dir)  # exit 2 on a missing or malformed report.json, before anything is written
    try:
        changed = attach_report(Path(report_dir), checkpoint, get_plugin_manager(), base_model=base_model,
                                license=license_id, datasets=datasets, tags=tags)
    except CardError as exc:
        raise click.UsageError(f"{checkpoint / 'README.md'}: {exc}") from exc
    if not changed:
        click.echo(f"{checkpoint / 'README.md'}: already up to date (nothing changed)")
        return
    click.echo(f"{checkpoint / 'README.md'}: RLAIF audit section updated; report copied to {checkpoint / SIDECAR}")
    for path in changed:
        click.echo(f"  wrote {path.relative_to(checkpoint)}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit attach``."""
    cli.add_command(command)
