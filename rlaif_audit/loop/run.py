"""The run folder, its manifest and stage markers, and the driver that runs each stage once."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.errors import ConfigError, InputError, RlaifAuditError
from rlaif_audit.loop import layout
from rlaif_audit.loop.config import RunConfig, build_config, to_toml
from rlaif_audit.loop.stages import RUN_STAGES, STAGE_NAMES, STAGES, Stage
from rlaif_audit.records.fileio import atomic_write_json, atomic_write_text, read_json
from rlaif_audit.records.provenance import library_versions, stable_hash

if TYPE_CHECKING:
    import pluggy

FORMAT = "rlaif-audit-run/1"


class RunWriteError(RlaifAuditError):
    """A file of the run could not be written (disk full, permission denied): the command ends with exit code 1,
    naming the file; completed stages are kept for ``--resume``."""

    exit_code = 1


def write_error(exc: OSError, folder: Path | str) -> RunWriteError:
    """The error for a failed write, naming the file and how to continue."""
    import errno

    name = exc.filename or "a file of the run"
    writing = exc.errno in {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
    return RunWriteError(f"{'cannot write' if writing else 'file error on'} {name}: {exc.strerror or exc}. Completed "
                         "stages are kept; free space or fix the permissions, then continue with: rlaif-audit run "
                         f"--resume {folder}")
SEED_PURPOSES = ("generate", "rm-split", "reward_model", "policy", "audit")


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_versions() -> dict[str, str]:
    """Library versions recorded in the manifest."""
    return library_versions(extra=("accelerate", "datasets", "pluggy"))


class Run:
    """A run folder: its config, manifest, per-generation folders and completion markers.

    Plugins receive this object in every loop hook: read ``config``, ``folder``,
    ``manifest``, :meth:`gen_dir` and :meth:`path`; never write into the folder's stage files.
    """

    def __init__(self, folder: Path, config: RunConfig, manifest: dict[str, Any], pm: pluggy.PluginManager) -> None:
        self.folder = folder
        self.config = config
        self.manifest = manifest
        self.pm = pm
        self.progress = True
        self.read_only = False

    @property
    def is_main(self) -> bool:
        """Whether this is the main process of `torchrun` / `accelerate launch` (the one that writes the folder)."""
        from rlaif_audit import processes

        return processes.is_main()

    def plugin_view(self) -> Run:
        """What an observer hook receives: this run with its own deep copies of ``config`` and ``manifest``
        (a plugin that mutates them changes nothing of the run) and no way to write the manifest or a marker."""
        view = copy.copy(self)
        view.config = copy.deepcopy(self.config)
        view.manifest = copy.deepcopy(self.manifest)
        view.read_only = True
        return view

    def gen_dir(self, generation: int) -> Path:
        """A generation's folder, ``gen-N/``."""
        return self.folder / layout.generation_folder(generation)

    def path(self, generation: int, name: str) -> Path:
        """A generation's file or folder, by its name in :mod:`rlaif_audit.loop.layout` (``layout.PAIRS``)."""
        return self.folder / layout.relative_path(generation, name)

    def marker(self, generation: int | None, stage: str) -> Path:
        """The completion marker of a stage (generation None: a run-level stage): written last, atomically;
        the stage is done iff it exists."""
        if generation is None:
            return self.folder / layout.marker(stage)
        return self.path(generation, layout.marker(stage))

    def is_done(self, generation: int | None, stage: str) -> bool:
        """Whether a stage of a generation has completed (its marker exists)."""
        return self.marker(generation, stage).exists()

    def stage_record(self, generation: int | None, stage: str) -> dict[str, Any]:
        """A completed stage's marker: timings, peak memory and outputs."""
        path = self.marker(generation, stage)
        if not path.exists():
            raise ConfigError(f"Stage {stage} of generation {generation} has not completed in {self.folder}")
        record = read_json(path)  # a damaged marker is an InputError naming it
        if not isinstance(record, dict) or not isinstance(record.get("outputs", {}), dict):
            raise InputError(str(path), "not a stage marker (a JSON object with its 'outputs'): the run folder is "
                             "damaged; delete this marker to run the stage again")
        return record

    def stage_outputs(self, generation: int | None, stage: str) -> dict[str, Any]:
        """The outputs a completed stage recorded in its marker."""
        return self.stage_record(generation, stage).get("outputs", {})

    def seed(self, generation: int, purpose: str) -> int:
        """A seed derived from the run seed, the generation and what it is for."""
        return int(stable_hash([self.config.seed, generation, purpose], length=8), 16) % (2**31 - 1)

    def input_policy(self, generation: int) -> Path:
        """The policy a generation starts from (and audits against): the configured one, then the last trained one."""
        from rlaif_audit.judging.models import resolve_model

        if generation == 0:
            return resolve_model(self.config.policy)
        return self.path(generation - 1, layout.POLICY)

    def notify(self, hook: str, generation: int, **kwargs: Any) -> None:
        """Call an observer hook on each plugin (on a read-only view of the run, :meth:`plugin_view`); a plugin
        that raises is recorded in the manifest, never fatal."""
        from rlaif_audit.host import call_safely

        if not self.is_main:
            return
        # observers get copies: one that mutates the run's config, manifest or a hook argument changes nothing
        failures = call_safely(self.pm, hook, run=self.plugin_view(), generation=generation, **copy.deepcopy(kwargs))
        for failure in failures:
            failure.update({"generation": generation, "time": now()})
        if failures:
            self.manifest.setdefault("plugin_failures", []).extend(failures)
            self.save_manifest()

    def save_manifest(self) -> None:
        """Write manifest.json (main process only), stamped with the time."""
        self._check_writable()
        if self.is_main:
            self.manifest["updated"] = now()
            atomic_write_json(self.folder / layout.MANIFEST, self.manifest)

    def record_stage(self, generation: int | None, stage: str, record: dict[str, Any]) -> None:
        """Write the stage's completion marker (last), then mirror it into the manifest."""
        self._check_writable()
        if not self.is_main:
            return
        atomic_write_json(self.marker(generation, stage), record)
        self.manifest.setdefault("stages", {})[layout.stage_key(generation, stage)] = record
        self.save_manifest()


    def _check_writable(self) -> None:
        if self.read_only:
            raise PermissionError("a plugin's view of the run is read-only: it cannot write the manifest or a "
                                  "stage marker")


def _new_manifest(folder: Path, config: RunConfig) -> dict[str, Any]:
    """The manifest of a new run: its config and hash, library versions, empty stage and failure tables."""
    return {
        "format": FORMAT,
        "name": folder.name,
        "created": now(),
        "status": "running",
        "config": config.to_dict(),
        "config_hash": stable_hash(config.to_dict()),
        "seeds": {"seed": config.seed},  # the derived per-stage seeds are added by create_run
        "versions": run_versions(),
        "stages": {},
        "attempts": {},
        "plugin_failures": [],
        "warnings": [],
        "evaluators": {},
        "outputs": {},
    }


def create_run(folder: Path | str, config: RunConfig, pm: pluggy.PluginManager, checked: bool = False) -> Run:
    """A new run folder with its config and manifest; an existing run is never overwritten.

    The whole config is checked first (:func:`rlaif_audit.loop.preflight.check_run`; ``checked``: the caller
    already did): a bad one leaves nothing on disk."""
    folder = Path(folder)
    if (folder / layout.MANIFEST).exists():
        raise ConfigError(f"{folder} already holds a run: continue it with `rlaif-audit run --resume {folder}` "
                          "or choose another output folder")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} exists and is not empty: choose a new output folder")
    if not checked:
        from rlaif_audit.loop.preflight import check_run

        check_run(config, pm)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / layout.CONFIG, to_toml(config.to_dict()))
    run = Run(folder, config, _new_manifest(folder, config), pm)
    from rlaif_audit.loop.ai_feedback import evaluator_spec

    for generation in range(config.generations):
        seeds = {purpose: run.seed(generation, purpose) for purpose in SEED_PURPOSES}
        run.manifest["seeds"][layout.generation_folder(generation)] = seeds
        run.manifest["evaluators"][layout.generation_folder(generation)] = evaluator_spec(run, generation)
    run.save_manifest()
    return run


def open_run(folder: Path | str, pm: pluggy.PluginManager) -> Run:
    """An existing run folder to resume, with the config it was started with."""
    folder = Path(folder)
    path = folder / layout.MANIFEST
    if not path.exists():
        raise InputError(str(path), "not found: --resume needs a run folder made by `rlaif-audit run`")
    manifest = read_json(path)  # not UTF-8, not JSON: an InputError naming the file and line
    if not isinstance(manifest, dict):
        raise InputError(str(path), "not a run manifest (a JSON object)")
    if manifest.get("format") != FORMAT:
        raise InputError(str(path), f"unknown run format {manifest.get('format')!r}; expected {FORMAT!r}",
                         field="format")
    config = _manifest_config(path, manifest)
    run = Run(folder, config, manifest, pm)
    _sync_markers(run)
    remove_leftover_scratch(run)
    from rlaif_audit.loop.resume import resume_record  # what is skipped, what continues (printed by `run`)

    manifest.setdefault("resumed", []).append(resume_record(run, now()))
    run.save_manifest()
    return run


def _manifest_config(path: Path, manifest: dict[str, Any]) -> RunConfig:
    """The config a run was started with, from its manifest; a missing, invalid or altered one is an InputError."""
    values = manifest.get("config")
    if not isinstance(values, dict):
        raise InputError(str(path), "the run's config is missing: the manifest is damaged (its 'config' is "
                         f"{type(values).__name__}, not a table)", field="config")
    try:
        config = build_config(overrides=values)
    except (ConfigError, TypeError) as exc:
        raise InputError(str(path), f"the run's config is invalid: {exc}", field="config") from None
    recorded = manifest.get("config_hash")
    if recorded is not None and recorded != stable_hash(config.to_dict()):
        raise InputError(str(path), "the run's config does not match its config_hash: the manifest was altered "
                         "or damaged", field="config_hash")
    return config


def remove_leftover_scratch(run: Run) -> None:
    """Remove what completed stages listed as scratch (TRL's checkpoint folders, with their optimizer and RNG
    pickles) and a kill right after the stage's marker left behind."""
    if not run.is_main or run.config.keep_checkpoints:
        return
    for generation in range(run.config.generations):
        for stage in STAGE_NAMES:
            if run.is_done(generation, stage):
                for name in run.stage_outputs(generation, stage).get("scratch", []):
                    remove_tree(run.folder / layout.relative_path(generation, _scratch_name(run, name)))


def _scratch_name(run: Run, name: Any) -> str:
    """A scratch entry of a marker: a plain folder name of the generation (never a path out of it)."""
    if not isinstance(name, str) or not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise InputError(str(run.folder / layout.MARKERS), f"a stage marker lists {name!r} as scratch: not a "
                         "folder name", field="scratch")
    return name


def _sync_markers(run: Run) -> None:
    """Rebuild the manifest's stage table from the markers (the process may have died between the two writes)."""
    stages = {}
    for generation in range(run.config.generations):
        for stage in STAGE_NAMES:
            if run.is_done(generation, stage):
                stages[layout.stage_key(generation, stage)] = run.stage_record(generation, stage)
    for stage in RUN_STAGES:
        if run.is_done(None, stage.name):
            stages[layout.stage_key(None, stage.name)] = run.stage_record(None, stage.name)
    run.manifest["stages"] = stages


def run_stage(run: Run, generation: int | None, stage: Stage) -> dict[str, Any]:
    """Run one stage (generation None: a run-level stage, after every generation): hooks around it, time and
    peak memory measured, its marker written last."""
    from rlaif_audit.loop.meter import StageMeter

    key = layout.stage_key(generation, stage.name)
    hook_generation = run.config.generations - 1 if generation is None else generation
    run.manifest.setdefault("attempts", {})[key] = run.manifest.get("attempts", {}).get(key, 0) + 1
    run.save_manifest()
    run.notify("on_stage_start", hook_generation, stage=stage.name)
    started = now()
    outputs: dict[str, Any] = {}
    with StageMeter() as meter:
        if run.is_main or stage.all_processes:
            outputs = stage.run(run, generation) or {}
    record = {"stage": stage.name, "generation": generation, "started": started, "finished": now(),
              **meter.stats(), "outputs": outputs}
    run.record_stage(generation, stage.name, record)
    if run.is_main and not run.config.keep_checkpoints and generation is not None:
        for name in outputs.get("scratch", []):  # a kill before this: open_run removes them (resume)
            remove_tree(run.path(generation, _scratch_name(run, name)))
    run.notify("on_stage_end", hook_generation, stage=stage.name, stats=record)
    return record


def execute(run: Run) -> dict[str, Any]:
    """Run every stage not yet done, generation by generation, then the run-level stages; return the manifest.

    A stage that raises :class:`rlaif_audit.auditing.drift.EvaluatorDrift` (``on_drift = "stop"``) leaves the
    run with status ``stopped`` and the message in the manifest before the error propagates.
    """
    from rlaif_audit import processes

    by_name = {stage.name: stage for stage in (*STAGES, *RUN_STAGES)}
    for generation, name in processes.share_from_main(_pending(run)):  # every process: the main one's stage list
        if generation is None:
            run_stage(run, None, by_name[name])
        else:
            _run_or_stop(run, generation, by_name[name])
        processes.wait_for_everyone()  # the others load what the main process wrote only once it is written
    run.manifest["status"] = "done"
    run.manifest["finished"] = now()
    run.save_manifest()
    return run.manifest


def _pending(run: Run) -> list[tuple[int | None, str]]:
    """The stages not yet done, in order, as (generation, stage name); generation None: a run-level stage."""
    pending: list[tuple[int | None, str]] = [(generation, stage.name) for generation in range(run.config.generations)
                                             for stage in STAGES if not run.is_done(generation, stage.name)]
    return pending + [(None, stage.name) for stage in RUN_STAGES if not run.is_done(None, stage.name)]


def _run_or_stop(run: Run, generation: int, stage: Stage) -> None:
    """Run a stage; on a drift stop, record the stop (status, message, time) in the manifest and re-raise."""
    from rlaif_audit.loop.probes import DriftStop

    try:
        run_stage(run, generation, stage)
    except DriftStop as exc:
        run.manifest["status"] = "stopped"
        run.manifest["stopped"] = {"generation": generation, "stage": stage.name, "reason": str(exc), "time": now()}
        run.save_manifest()
        raise


def remove_tree(path: Path) -> None:
    """Remove a folder left by an interrupted attempt."""
    shutil.rmtree(path, ignore_errors=True)
