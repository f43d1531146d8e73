"""`rlaif-audit run`: the whole RLAIF loop (generate, label, reward model, policy, audit) in a resumable run folder."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError
from rlaif_audit.loop.config import KEYS, PRESETS

if TYPE_CHECKING:
    import pluggy

    from rlaif_audit.loop.config import RunConfig
    from rlaif_audit.loop.run import Run

CLICK_TYPES = {int: click.INT, float: click.FLOAT, bool: click.BOOL, str: click.STRING, list: click.STRING}


def _key_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One ``--key-name VALUE`` option per config key (evaluator_options is ``-O KEY=VALUE``)."""
    for name, key in reversed(list(KEYS.items())):
        if name == "evaluator_options":
            continue
        hint = " (comma-separated)" if key.type is list else ""
        func = click.option(f"--{name.replace('_', '-')}", name, type=CLICK_TYPES[key.type], default=None,
                            help=f"{key.help}{hint} [config key {name}; default {key.default!r}]")(func)
    return func


def _overrides(values: dict[str, Any], option_values: tuple[str, ...]) -> dict[str, Any]:
    """The config keys given on the command line (lists split at commas), with the -O evaluator options."""
    from rlaif_audit.commands.label import parse_options
    from rlaif_audit.loop.config import parse_cli_value

    given = {name: value for name, value in values.items() if value is not None}
    for name, value in list(given.items()):
        if KEYS[name].type is list:
            given[name] = parse_cli_value(name, value)
    if option_values:
        given["evaluator_options"] = parse_options(option_values)
    return given


def _default_folder() -> Path:
    """A new run folder named after the current time."""
    return Path("runs") / dt.datetime.now().strftime("run-%Y%m%d-%H%M%S")


def _prepare(config: RunConfig | None, output: str | None, resume: str | None, pm: pluggy.PluginManager) -> Run:
    """Create (``config``, already checked) or reopen the run folder: on the main process first under `torchrun` /
    `accelerate launch`, then the others open the folder it made."""
    from rlaif_audit import processes
    from rlaif_audit.loop.run import create_run, open_run

    run = None
    if processes.is_main():
        if resume or config is None:
            run = open_run(resume, pm)
        else:
            run = create_run(output or _default_folder(), config, pm, checked=True)
    folder = processes.share_from_main(None if run is None else str(run.folder))  # the others wait for it
    return run if run is not None else open_run(folder, pm)


def _check_resume(resume: str | None, config_path: str | None, preset: str | None, output: str | None,
                  overrides: dict[str, Any]) -> None:
    """Refuse --resume with options that would change the run's config."""
    if not resume:
        return
    given = [f"--{n.replace('_', '-')}" for n in overrides] + [
        flag for flag, value in (("--config", config_path), ("--preset", preset), ("-o", output)) if value]
    if given:
        raise ConfigError(f"--resume continues a run with the config it was started with; drop {', '.join(given)}")


def _calm_libraries() -> None:
    """No deprecation warnings, info logs or weight-loading bars from the libraries (training bars stay)."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="trl")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


@click.command(name="run")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Run configuration TOML; every key is also an option below.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
              help="Start from a preset: default (about 10-20 min on 2 CPU cores) or smoke (minutes, for tests).")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="New run folder (default: runs/run-<date>-<time>).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), default=None,
              help="Continue an interrupted run folder from its last completed stage or TRL checkpoint.")
@click.option("-O", "--evaluator-option", "option_values", multiple=True, metavar="KEY=VALUE",
              help="Evaluator option, repeatable (config table [evaluator_options]).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@_key_options
def command(config_path: str | None, preset: str | None, output: str | None, resume: str | None,
            option_values: tuple[str, ...], quiet: bool, **values: Any) -> None:
    """Run the RLAIF loop with audits: generate, AI-label, train a reward model, RL-tune the policy, report."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.run import execute
    from rlaif_audit.loop.summary import summary_lines

    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.preflight import check_run

    overrides = _overrides(values, option_values)
    _check_resume(resume, config_path, preset, output, overrides)
    pm = get_plugin_manager()
    config = None
    if not resume:  # the whole config checked before the libraries load and before the run folder exists
        config = build_config(config_path, preset, overrides)
        check_run(config, pm)
    _calm_libraries()
    try:
        run = _prepare(config, output, resume, pm)
    except OSError as exc:  # an output folder that cannot be made or written: exit 1 naming the file
        from rlaif_audit.loop.run import write_error

        raise write_error(exc, resume or output or "the run folder") from exc
    run.progress = not quiet
    if run.is_main:
        click.echo(f"run folder: {run.folder}", err=True)
    if resume and run.is_main:  # before any work: what is skipped, what continues and from what
        from rlaif_audit.loop.resume import resume_lines

        for line in resume_lines(run.manifest["resumed"][-1]):
            click.echo(line, err=True)
    try:
        execute(run)
    except OSError as exc:  # disk full, permission denied: exit 1 naming the file, never a traceback
        from rlaif_audit.loop.run import write_error

        raise write_error(exc, run.folder) from exc
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted. Completed stages are kept; continue with: rlaif-audit run --resume {run.folder}",
                   err=True)
        sys.exit(130)
    if run.is_main:
        for line in summary_lines(run):
            click.echo(line)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit run``."""
    cli.add_command(command)
