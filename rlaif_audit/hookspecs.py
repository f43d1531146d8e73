"""The whole hook contract between rlaif-audit and its plugins.

Registration hooks receive a ``register`` callback so the host owns duplicate
handling. Loop hooks come in before/after pairs or as observers; an
implementation may accept fewer arguments than its spec, so specs can grow
without breaking plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    import click

    from rlaif_audit.auditing.auditor import Auditor
    from rlaif_audit.data.importer import Importer
    from rlaif_audit.judging.evaluator import Evaluator
    from rlaif_audit.judging.probes import ProbeSuite
    from rlaif_audit.loop.run import Run
    from rlaif_audit.reporting.format import ReportFormat

    EvaluatorClass = type[Evaluator]
    AuditorClass = type[Auditor]
    ReportFormatClass = type[ReportFormat]
    ImporterClass = type[Importer]

hookspec = HookspecMarker("rlaif_audit")
hookimpl = HookimplMarker("rlaif_audit")


@hookspec
def register_evaluators(register: Callable[[EvaluatorClass], None]) -> None:
    """Register AI evaluators (judges) by calling ``register(EvaluatorSubclass)``.

    :param register: takes a subclass of :class:`rlaif_audit.judging.evaluator.Evaluator`
        with ``name``, ``description`` and ``options`` class attributes.
    """


@hookspec
def register_auditors(register: Callable[[AuditorClass], None]) -> None:
    """Register auditors that measure an evaluator by calling ``register(AuditorSubclass)``.

    :param register: takes a subclass of :class:`rlaif_audit.auditing.auditor.Auditor`.
    """


@hookspec
def register_report_formats(register: Callable[[ReportFormatClass], None]) -> None:
    """Register report writers (json, md, html, ...) by calling ``register(ReportFormatSubclass)``.

    :param register: takes a subclass of :class:`rlaif_audit.reporting.format.ReportFormat`.
    """


@hookspec
def register_importers(register: Callable[[ImporterClass], None]) -> None:
    """Register readers of judgment files made by other tools by calling ``register(ImporterSubclass)``.

    :param register: takes a subclass of :class:`rlaif_audit.data.importer.Importer` with ``name`` and
        ``description`` class attributes, ``detect(first_record)`` and ``read(path, data)``; optionally
        ``detect_labels(first_record)`` and ``read_labels(path, pairs)`` for the format's human labels.
    """


@hookspec
def register_probe_suites(register: Callable[[ProbeSuite], None]) -> None:
    """Register probe suites (pairs with a known expected winner) by calling ``register(ProbeSuite(...))``.

    :param register: takes a frozen :class:`rlaif_audit.judging.probes.ProbeSuite` (name, version, description,
        pairs whose metadata holds ``suite``, ``suite_version``, ``expected`` and ``probe_kind``); a name registered
        by two plugins is an error naming both.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``rlaif-audit`` click group.

    :param cli: the top-level click group; call ``cli.command()`` or ``cli.add_command``.
    """


@hookspec
def on_stage_start(run: Run, generation: int, stage: str) -> None:
    """Called before a loop stage (generate, label, reward_model, policy, audit) starts.

    :param run: the :class:`rlaif_audit.loop.Run` in progress (config, folder, manifest, ``path``).
    :param generation: 0-based generation index.
    :param stage: the stage name.
    """


@hookspec
def on_stage_end(run: Run, generation: int, stage: str, stats: dict[str, Any]) -> None:
    """Called after a loop stage completed and its completion marker was written.

    :param run: the run in progress.
    :param generation: 0-based generation index.
    :param stage: the stage name.
    :param stats: wall time, peak memory and stage outputs.
    """


@hookspec
def on_candidates(run: Run, generation: int, candidates: list[dict[str, Any]]) -> None:
    """Observe the policy's sampled candidate responses of one generation.

    :param run: the run in progress.
    :param generation: 0-based generation index.
    :param candidates: rows with ``prompt_id``, ``prompt``, ``candidate_id``, ``text``.
    """


@hookspec
def on_judgments(run: Run, generation: int, judgments: list[dict[str, Any]]) -> None:
    """Observe the evaluator's judgments of one generation (both orders of each pair).

    :param run: the run in progress.
    :param generation: 0-based generation index.
    :param judgments: judgment records as written to ``judgments.jsonl``.
    """


@hookspec
def on_reward_model(run: Run, generation: int, path: str, metrics: dict[str, Any]) -> None:
    """Observe a trained reward model once it is saved.

    :param run: the run in progress.
    :param generation: 0-based generation index.
    :param path: folder of the saved reward model (safetensors).
    :param metrics: held-out accuracy against AI (and human) labels.
    """


@hookspec
def on_policy_log(run: Run, generation: int, step: int, logs: dict[str, float]) -> None:
    """Observe the RL trainer's log at each logging step (reward, KL, length, ...).

    :param run: the run in progress.
    :param generation: 0-based generation index.
    :param step: global optimiser step.
    :param logs: the trainer's logged values.
    """


@hookspec
def on_generation_end(run: Run, generation: int, report: dict[str, Any]) -> None:
    """Called when a generation's checkpoints and audit report are saved.

    :param run: the run in progress.
    :param generation: 0-based generation index.
    :param report: the generation's report (as written to report.json).
    """
