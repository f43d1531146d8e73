"""Everything a run config names, checked before the run folder is created: a bad run stops in seconds, not after
training, and leaves nothing on disk.

:func:`check_run` checks the evaluator and its options, the auditors, the probe suites, the data files (prompts,
human_data, anchor_data: read as their stages will read them) and the policy (a model folder must hold safetensors
weights: pickled ``pytorch_model.bin`` weights are never loaded). Finite numeric ranges are checked as the config is
built (:func:`rlaif_audit.loop.config.check_value`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.errors import ConfigError, PluginError

if TYPE_CHECKING:
    import pluggy

    from rlaif_audit.loop.config import RunConfig

def check_run(config: RunConfig, pm: pluggy.PluginManager) -> None:
    """Every check of a new run; the first problem is an error (exit 2) naming the key and the valid choices."""
    check_model(config.policy, "policy")
    _check_evaluator(config, pm)
    _check_auditors(config, pm)
    _check_probe_suites(config, pm)
    _check_data(config)


def check_model(spec: str, key: str) -> None:
    """A model the run loads: the bundled name, a .gguf file, or a Hugging Face folder with safetensors weights
    (a folder of pickled weights only is refused before anything is loaded)."""
    from rlaif_audit.judging.models import DEFAULT_MODEL, check_model_folder

    if not spec or spec.lower() == DEFAULT_MODEL:
        return
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return
    if not path.is_dir():
        raise ConfigError(f"Option '{key}': model {spec!r} not found: give a Hugging Face model folder, a .gguf file, "
                          f"or '{DEFAULT_MODEL}' (the hub is not searched)")
    check_model_folder(path, f"Option '{key}': ")


def _check_evaluator(config: RunConfig, pm: pluggy.PluginManager) -> None:
    """The evaluator is registered, its options are valid, and a local model it names holds safetensors weights."""
    from rlaif_audit.host import evaluators
    from rlaif_audit.judging.evaluator import Evaluator

    cls = evaluators(pm).get(config.evaluator)  # a PluginError naming the registered evaluators
    bare = cls.__new__(cls)
    Evaluator.__init__(bare, **config.evaluator_options)  # unknown options, unparseable values: a ConfigError
    model = bare.config.get("model")
    if not isinstance(model, str) or not model or "model" not in cls.options:
        return
    if _loads_local_models(cls) or Path(model).expanduser().is_dir():  # an API model name is no folder
        check_model(model, "evaluator_options.model")


def _loads_local_models(cls: type) -> bool:
    """Whether the evaluator loads its ``model`` option from this machine (hf-judge and its kind, reward-model)."""
    from rlaif_audit.default_plugins.evaluators.hf_judge import HFJudge
    from rlaif_audit.default_plugins.evaluators.reward_model import RewardModelJudge

    return issubclass(cls, (HFJudge, RewardModelJudge))


def _check_auditors(config: RunConfig, pm: pluggy.PluginManager) -> None:
    """Every name in ``auditors`` is a registered auditor."""
    from rlaif_audit.host import auditors

    registry = auditors(pm)
    for name in config.auditors:
        try:
            registry.get(name)
        except PluginError as exc:  # it names the registered auditors
            raise PluginError(f"Option 'auditors': {exc}") from None


def _check_probe_suites(config: RunConfig, pm: pluggy.PluginManager) -> None:
    """Every name in ``probe_suites`` is a registered suite, none given twice."""
    from rlaif_audit.judging.probes import resolve_suites

    if config.probe_suites:
        try:
            resolve_suites(pm, config.probe_suites)
        except (PluginError, ConfigError) as exc:
            raise ConfigError(f"Option 'probe_suites': {exc}") from None


def _check_data(config: RunConfig) -> None:
    """The prompt file, human_data and anchor_data read as their stages read them (errors name file, line, field)."""
    from rlaif_audit.loop.prompts import bundled_prompts, read_prompts, split_prompts

    split_prompts(read_prompts(config.prompts or bundled_prompts()), config.num_prompts, config.eval_prompts,
                  config.seed)
    if _local(config.human_data):
        from rlaif_audit.data.pairs import read_pairs

        read_pairs(config.human_data, seed=config.seed, limit=config.human_limit)
    if _local(config.anchor_data):
        from rlaif_audit.judging.probes import anchor_suite

        anchor_suite(config.anchor_data, config.anchor_limit, seed=config.seed)


def _local(source: Any) -> bool:
    """A data source read from this machine (not empty, not an ``hf://`` dataset id)."""
    return bool(source) and not str(source).startswith("hf://")
