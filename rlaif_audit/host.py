"""The plugin host: a fresh pluggy manager and the registries filled through its hooks."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import pluggy

from rlaif_audit import hookspecs
from rlaif_audit.errors import PluginError

ENTRY_POINT_GROUP = "rlaif_audit"
DISABLE_ENV = "RLAIF_AUDIT_DISABLE_PLUGINS"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "rlaif_audit.default_plugins.evaluators.hf_judge",
    "rlaif_audit.default_plugins.evaluators.openai_judge",
    "rlaif_audit.default_plugins.evaluators.reward_model",
    "rlaif_audit.default_plugins.evaluators.synthetic",
    "rlaif_audit.default_plugins.auditors",
    "rlaif_audit.default_plugins.formats",
    "rlaif_audit.default_plugins.importers.alpaca_eval",
    "rlaif_audit.default_plugins.importers.fastchat",
    "rlaif_audit.default_plugins.probe_suites",
    "rlaif_audit.commands.listing",
    "rlaif_audit.commands.label",
    "rlaif_audit.commands.audit",
    "rlaif_audit.commands.run",
    "rlaif_audit.commands.plan",
    "rlaif_audit.commands.probe",
    "rlaif_audit.commands.drift",
    "rlaif_audit.commands.propagation",
    "rlaif_audit.commands.simulate",
    "rlaif_audit.commands.check",
    "rlaif_audit.commands.attach",
    "rlaif_audit.commands.export",
    "rlaif_audit.commands.review",
)
"""The built-in plugins, registered after the installed ones through the very same hooks (as simonw/llm's
``DEFAULT_PLUGINS``). Each is a light module: what it registers imports its heavy libraries only when used."""

T = TypeVar("T")


def blocked_names() -> list[str]:
    """Plugin names listed in ``RLAIF_AUDIT_DISABLE_PLUGINS`` (comma separated)."""
    return [name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()]


def _is_blocked(name: str, blocked: list[str]) -> bool:
    return name in blocked or name.rsplit(".", 1)[-1] in blocked


@dataclass(frozen=True)
class FailedPlugin:
    """An installed plugin that could not be loaded or validated: skipped, listed by ``rlaif-audit plugins``."""

    name: str
    error: str
    distribution: str | None = None
    version: str | None = None

    def warning(self) -> str:
        """The one-line warning the CLI prints."""
        return (f"plugin '{self.name}' was skipped: {self.error} (block it with {DISABLE_ENV}={self.name}, or "
                "uninstall it)")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what the host learnt while loading: each plugin's distribution and the failures."""

    def __init__(self) -> None:
        super().__init__("rlaif_audit")
        self.distributions: dict[str, Any] = {}
        self.failed: list[FailedPlugin] = []


def get_plugin_manager(load_entry_points: bool = True) -> PluginManager:
    """Build a fresh manager: hookspecs → blocked names → entry points → built-ins → check.

    An installed plugin that fails to import, or implements a hook that does not exist or with arguments its spec
    lacks, is skipped and recorded in ``pm.failed``; the built-ins and the other plugins still load.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    blocked = blocked_names()
    for name in blocked:
        pm.set_blocked(name)
    if load_entry_points:
        load_entry_point_plugins(pm)
    for module_name in DEFAULT_PLUGINS:
        if not _is_blocked(module_name, blocked):
            pm.register(importlib.import_module(module_name), name=module_name)
    pm.check_pending()
    return pm


def load_entry_point_plugins(pm: PluginManager) -> None:
    """Register every entry point of the group ``rlaif_audit``, each on its own: one broken plugin never stops the rest."""
    from importlib import metadata

    for dist in metadata.distributions():
        for entry in dist.entry_points:
            if entry.group != ENTRY_POINT_GROUP or pm.get_plugin(entry.name) or pm.is_blocked(entry.name):
                continue
            try:
                plugin = entry.load()
                pm.register(plugin, name=entry.name)
                _check_hooks_exist(pm, plugin, entry.name)
                _check_registrations(pm, plugin)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of a third-party plugin is contained
                if pm.get_plugin(entry.name) is not None:
                    pm.unregister(name=entry.name)
                error = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
                pm.failed.append(FailedPlugin(entry.name, error, dist.metadata["Name"],
                                              dist.version))
                continue
            pm.distributions[entry.name] = dist


def _check_hooks_exist(pm: PluginManager, plugin: Any, name: str) -> None:
    """A PluginError when ``plugin`` implements a hook that rlaif-audit does not define (pluggy's check_pending)."""
    unknown = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [] if not caller.has_spec())
    if unknown:
        known = ", ".join(sorted(n for n in dir(pm.hook) if not n.startswith("_") and getattr(pm.hook, n).has_spec()))
        raise PluginError(f"implements unknown hook(s) {', '.join(unknown)}; the hooks are: {known}")


def _check_registrations(pm: PluginManager, plugin: Any) -> None:
    """Call the plugin's ``register_*`` hooks once on scratch callbacks (a throw-away click group for commands): one
    that raises is a PluginError, so the plugin is skipped at load and never breaks a registry or the CLI later."""
    import click

    for caller in pm.get_hookcallers(plugin) or []:
        if not caller.name.startswith("register_"):
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            scratch = {"register": lambda *_args, **_kwargs: None, "cli": click.Group("scratch")}
            try:
                impl.function(**{arg: scratch[arg] for arg in impl.argnames if arg in scratch})
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported as the plugin's failure
                raise PluginError(f"{caller.name} raised {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Registered(Generic[T]):
    """One registered class and the plugin that registered it."""

    name: str
    cls: T
    plugin: str


class Registry(Generic[T]):
    """Named classes collected from one ``register_*`` hook; duplicates are errors."""

    def __init__(self, pm: pluggy.PluginManager, hook_name: str, kind: str) -> None:
        self.kind = kind
        self.items: dict[str, Registered[T]] = {}
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            impl.function(**self._args(impl, lambda cls, _p=impl.plugin_name: self._add(cls, _p)))

    @staticmethod
    def _args(impl: Any, register: Callable[[T], None]) -> dict[str, Any]:
        return {"register": register} if "register" in impl.argnames else {}

    def _add(self, cls: Any, plugin: str) -> None:
        name = getattr(cls, "name", "")
        if not name:
            raise PluginError(f"Plugin '{plugin}' registered a {self.kind} without a name: {cls!r}")
        if name in self.items:
            first = self.items[name].plugin
            raise PluginError(f"{self.kind.capitalize()} '{name}' is registered by two plugins: '{first}' and '{plugin}'")
        self.items[name] = Registered(name, cls, plugin)

    def names(self) -> list[str]:
        return sorted(self.items)

    def get(self, name: str) -> T:
        """The class registered as ``name``; an error naming the valid choices otherwise."""
        if name not in self.items:
            available = ", ".join(self.names()) or "(none)"
            raise PluginError(f"{self.kind.capitalize()} '{name}' not found. Available: {available}")
        return self.items[name].cls


def evaluators(pm: pluggy.PluginManager | None = None) -> Registry[Any]:
    """All registered evaluator classes."""
    return Registry(pm or get_plugin_manager(), "register_evaluators", "evaluator")


def auditors(pm: pluggy.PluginManager | None = None) -> Registry[Any]:
    """All registered auditor classes."""
    return Registry(pm or get_plugin_manager(), "register_auditors", "auditor")


def report_formats(pm: pluggy.PluginManager | None = None) -> Registry[Any]:
    """All registered report format classes."""
    return Registry(pm or get_plugin_manager(), "register_report_formats", "report format")


def importers(pm: pluggy.PluginManager | None = None) -> Registry[Any]:
    """All registered judgment importer classes (the formats ``audit --format`` reads besides rlaif-audit's own)."""
    return Registry(pm or get_plugin_manager(), "register_importers", "importer")


def probe_suites(pm: pluggy.PluginManager | None = None) -> Registry[Any]:
    """All registered probe suites (``ProbeSuite`` instances, by name)."""
    return Registry(pm or get_plugin_manager(), "register_probe_suites", "probe suite")


def make_evaluator(name: str, options: dict[str, Any], pm: pluggy.PluginManager | None = None) -> Any:
    """An instance of the evaluator registered as ``name``; errors name the valid evaluators and options."""
    return evaluators(pm).get(name)(**options)


def add_commands(pm: pluggy.PluginManager, group: Any) -> None:
    """Call every ``register_commands`` on ``group``; a command name taken by two plugins is an error naming both."""
    owners: dict[str, str] = {}
    for impl in reversed(pm.hook.register_commands.get_hookimpls()):  # built-ins last registered, so first here
        before = dict(group.commands)
        impl.function(cli=group)
        for name, command in group.commands.items():
            if name in before and before[name] is not command:
                raise PluginError(f"Command '{name}' is registered by two plugins: '{owners[name]}' and "
                                  f"'{impl.plugin_name}'; uninstall one or block it with {DISABLE_ENV}")
            owners.setdefault(name, impl.plugin_name)


def call_safely(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[dict[str, str]]:
    """Call each implementation of an observer hook on its own; a raising plugin is recorded, not fatal."""
    failures = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames if arg in kwargs})
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin failure (sys.exit too) never stops the host
            failures.append({"plugin": impl.plugin_name, "hook": hook_name, "error": f"{type(exc).__name__}: {exc}"})
    return failures


def plugin_table(pm: PluginManager, include_builtin: bool = False) -> list[dict[str, Any]]:
    """Name, version and hooks of each plugin (as ``rlaif-audit plugins`` prints); failed ones with ``status`` and ``error``."""
    rows = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        if not include_builtin and name in DEFAULT_PLUGINS:
            continue
        row: dict[str, Any] = {"name": name, "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or [])}
        dist = getattr(pm, "distributions", {}).get(name)
        if dist is not None:
            row["version"] = dist.version
            row["distribution"] = dist.metadata["Name"]
        rows.append(row)
    for failed in getattr(pm, "failed", []):
        rows.append({"name": failed.name, "hooks": [], "status": "failed", "error": failed.error,
                     "version": failed.version, "distribution": failed.distribution})
    return sorted(rows, key=lambda row: row["name"])
