"""The plugin host: registration hooks, blocking, duplicates, failing observers, the CLI listings, meta-tests."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl, hookspecs
from rlaif_audit.auditing.auditor import AuditContext, AuditResult, Auditor, Metric
from rlaif_audit.errors import PluginError
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.host import (
    DEFAULT_PLUGINS,
    DISABLE_ENV,
    auditors,
    call_safely,
    evaluators,
    get_plugin_manager,
    report_formats,
)
from rlaif_audit.reporting.format import ReportFormat
from rlaif_audit.reporting.report import Report
from rlaif_audit.records.types import JudgeItem, Judgment

REPO = Path(__file__).resolve().parents[1]
PLUGINS_DOC = REPO / "docs" / "plugins.md"
HEAVY_MODULES = ("torch", "transformers", "trl", "datasets", "accelerate", "sklearn", "scipy", "pandas", "numpy",
                 "gguf", "safetensors")


def hookspec_functions() -> dict[str, Any]:
    """Every hook of the contract in rlaif_audit/hookspecs.py, by name."""
    functions = inspect.getmembers(hookspecs, inspect.isfunction)
    return {name: fn for name, fn in functions if hasattr(fn, "rlaif_audit_spec")}


def require_longest() -> None:
    try:
        metadata.version("rlaif-audit-longest")
    except metadata.PackageNotFoundError:
        pytest.skip("plugins/rlaif-audit-longest is not installed (pip install -e plugins/rlaif-audit-longest)")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    code = "from rlaif_audit.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=REPO)


class EchoEvaluator(Evaluator):
    """A test evaluator whose P(first) is its option ``p``."""

    name = "echo-test"
    description = "Answers P(first) = p for every item."
    options = {"p": Option("The P(first) to answer.", 0.7, float)}

    def judge(self, items: list[JudgeItem]) -> Iterator[Judgment]:
        for item in items:
            yield Judgment(item.pair_id, item.order, self.config["p"], "first", evaluator=self.name)


class EvaluatorPlugin:
    @hookimpl
    def register_evaluators(self, register: Any) -> None:
        register(EchoEvaluator)


def _context() -> AuditContext:
    import pandas as pd

    pairs = pd.DataFrame({"pair_id": ["p0", "p1"], "p_a": [0.8, 0.4]})
    return AuditContext(pairs=pairs, judgments=pd.DataFrame(), labels=pd.DataFrame())


class MeanAuditor(Auditor):
    name = "mean-p-a-test"
    description = "Mean of p_a."

    def audit(self, ctx: AuditContext) -> AuditResult:
        mean = float(ctx.pairs["p_a"].mean())
        return AuditResult(metrics={"mean_p_a": Metric(mean, (mean, mean), len(ctx.pairs), "test")})


class BrokenAuditor(Auditor):
    name = "broken-test"
    description = "Always raises."

    def audit(self, ctx: AuditContext) -> AuditResult:
        raise RuntimeError("auditor exploded")


class AuditorPlugin:
    @hookimpl
    def register_auditors(self, register: Any) -> None:
        register(BrokenAuditor)
        register(MeanAuditor)


# ------------------------------------------------------------------------------------------ registration hooks


def test_hook_register_evaluators(pm) -> None:
    pm.register(EvaluatorPlugin(), name="echo-plugin")
    registry = evaluators(pm)
    assert registry.get("echo-test") is EchoEvaluator and registry.items["echo-test"].plugin == "echo-plugin"
    evaluator = registry.get("echo-test")(p="0.9")
    assert [j.p_first for j in evaluator.judge([JudgeItem("p", "ab", [], "x", "y")])] == [0.9]
    assert {"hf-judge", "openai"} <= set(registry.names())  # built-ins use the same hook


def test_hook_register_auditors(pm) -> None:
    from rlaif_audit.auditing.runner import run_auditors

    pm.register(AuditorPlugin(), name="auditor-plugin")
    assert auditors(pm).get("mean-p-a-test") is MeanAuditor
    results = run_auditors(_context(), pm, names=["broken-test", "mean-p-a-test"])
    assert results["broken-test"].status == "error" and "auditor exploded" in results["broken-test"].reason
    assert results["mean-p-a-test"].status == "ok"  # ran after the failing one
    assert results["mean-p-a-test"].metrics["mean_p_a"].value == pytest.approx(0.6)
    assert results["mean-p-a-test"].plugin == "auditor-plugin"


def test_hook_register_report_formats(pm, tmp_path: Path) -> None:
    class TextFormat(ReportFormat):
        name = "txt-test"
        description = "The title as plain text."
        filename = "report.txt"

        def render(self, report: Report) -> str:
            return f"{report.title}\n"

    class FormatPlugin:
        @hookimpl
        def register_report_formats(self, register: Any) -> None:
            register(TextFormat)

    pm.register(FormatPlugin(), name="format-plugin")
    path = report_formats(pm).get("txt-test")().write(Report(title="Judge audit"), tmp_path)
    assert path == tmp_path / "report.txt" and path.read_text(encoding="utf-8") == "Judge audit\n"


def test_hook_register_commands(pm) -> None:
    @click.command(name="hello-test")
    @click.option("--name", default="world", help="Whom to greet.")
    def hello(name: str) -> None:
        """Greet someone."""
        click.echo(f"hello {name}")

    class CommandPlugin:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            cli.add_command(hello)

    pm.register(CommandPlugin(), name="command-plugin")
    group = click.Group("test-cli")
    pm.hook.register_commands(cli=group)
    assert {"hello-test", "label"} <= set(group.commands)  # built-in commands arrive through the same hook
    result = CliRunner().invoke(group, ["hello-test", "--name", "plugins"])
    assert result.exit_code == 0 and result.output == "hello plugins\n"


# ----------------------------------------------------------------------------------------------- host behaviour


def test_each_manager_is_fresh() -> None:
    first, second = get_plugin_manager(), get_plugin_manager()
    first.register(EvaluatorPlugin(), name="echo-plugin")
    assert "echo-test" in evaluators(first).names() and "echo-test" not in evaluators(second).names()


def test_disable_env_blocks_builtin_and_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    require_longest()
    assert "longest" in evaluators(get_plugin_manager()).names()
    monkeypatch.setenv(DISABLE_ENV, "longest, openai_judge")
    pm = get_plugin_manager()
    names = evaluators(pm).names()
    assert "longest" not in names and "openai" not in names and "hf-judge" in names
    assert pm.is_blocked("longest")


def test_duplicate_evaluator_name_is_an_error_naming_both_plugins(pm) -> None:
    class Impostor(EchoEvaluator):
        name = "openai"

    class ImpostorPlugin:
        @hookimpl
        def register_evaluators(self, register: Any) -> None:
            register(Impostor)

    pm.register(ImpostorPlugin(), name="impostor-plugin")
    with pytest.raises(PluginError) as info:
        evaluators(pm)
    message = str(info.value)
    assert "'openai'" in message and "rlaif_audit.default_plugins.evaluators.openai_judge" in message
    assert "impostor-plugin" in message


def test_failing_observer_is_recorded_and_the_others_still_run(pm) -> None:
    calls: list[tuple[str, int, str]] = []

    class Recorder:
        def __init__(self, label: str) -> None:
            self.label = label

        @hookimpl
        def on_stage_start(self, generation: int, stage: str) -> None:  # fewer arguments than the spec
            calls.append((self.label, generation, stage))

    class Broken:
        @hookimpl
        def on_stage_start(self, run: Any, generation: int, stage: str) -> None:
            raise RuntimeError("observer exploded")

    pm.register(Recorder("before"), name="recorder-before")
    pm.register(Broken(), name="broken-observer")
    pm.register(Recorder("after"), name="recorder-after")
    failures = call_safely(pm, "on_stage_start", run=None, generation=2, stage="label")
    expected = {"plugin": "broken-observer", "hook": "on_stage_start", "error": "RuntimeError: observer exploded"}
    assert failures == [expected]
    assert sorted(calls) == [("after", 2, "label"), ("before", 2, "label")]


def test_an_observer_calling_sys_exit_is_recorded_like_any_failure(pm) -> None:
    import sys

    class Exiting:
        @hookimpl
        def on_stage_end(self, stage: str) -> None:
            sys.exit(f"stop after {stage}")

    pm.register(Exiting(), name="exiting-observer")
    failures = call_safely(pm, "on_stage_end", run=None, generation=0, stage="policy", stats={})
    assert failures == [{"plugin": "exiting-observer", "hook": "on_stage_end", "error": "SystemExit: stop after policy"}]


def test_unknown_evaluator_error_names_the_available_ones(pm) -> None:
    with pytest.raises(PluginError) as info:
        evaluators(pm).get("gpt-judge")
    names = evaluators(pm).names()
    assert str(info.value) == f"Evaluator 'gpt-judge' not found. Available: {', '.join(names)}"
    assert {"hf-judge", "openai"} <= set(names)


def test_cli_unknown_evaluator_exits_2_naming_the_choices(tmp_path: Path) -> None:
    result = run_cli("label", "demo", "-e", "gpt-judge", "-o", str(tmp_path / "j.jsonl"), "-q")
    assert result.returncode == 2
    assert "Evaluator 'gpt-judge' not found. Available:" in result.stderr and "openai" in result.stderr
    assert not (tmp_path / "j.jsonl").exists()


# ------------------------------------------------------------------------------------------------ CLI listings


def test_cli_plugins_all_lists_builtins_and_distributions() -> None:
    require_longest()
    plain, full = run_cli("plugins"), run_cli("plugins", "--all")
    assert plain.returncode == 0 and full.returncode == 0, plain.stderr + full.stderr
    rows = {row["name"]: row for row in json.loads(full.stdout)}
    assert all(set(row) >= {"name", "hooks"} for row in rows.values())
    assert rows["rlaif_audit.default_plugins.evaluators.openai_judge"]["hooks"] == ["register_evaluators"]
    assert rows["rlaif_audit.commands.label"]["hooks"] == ["register_commands"]
    assert rows["longest"]["version"] == metadata.version("rlaif-audit-longest")
    assert rows["longest"]["distribution"] == "rlaif-audit-longest"
    plain_names = [row["name"] for row in json.loads(plain.stdout)]
    assert "longest" in plain_names and not set(plain_names) & set(DEFAULT_PLUGINS)  # built-ins only with --all


def test_cli_evaluators_lists_names_and_options() -> None:
    text, as_json = run_cli("evaluators"), run_cli("evaluators", "--json")
    assert text.returncode == 0 and as_json.returncode == 0, text.stderr + as_json.stderr
    assert re.search(r"^openai: ", text.stdout, re.M) and "-O base_url=...  Endpoint base URL" in text.stdout
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    openai_options = {opt["name"]: opt for opt in rows["openai"]["options"]}
    assert openai_options["concurrency"]["default"] == 4 and openai_options["logprobs"]["default"] == "auto"
    assert rows["openai"]["plugin"] == "rlaif_audit.default_plugins.evaluators.openai_judge"
    assert {"hf-judge", "openai"} <= set(rows)


def test_cli_help_imports_no_heavy_library() -> None:
    """``rlaif-audit --help`` registers every built-in plugin yet imports none of the slow libraries."""
    code = (
        "import json, sys\nfrom rlaif_audit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('rlaif_audit'))))\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    loaded, heavy = json.loads(lines[-2]), json.loads(lines[-1])
    assert set(DEFAULT_PLUGINS) <= set(loaded)  # every built-in plugin was imported
    assert heavy == [], f"`rlaif-audit --help` imported {heavy}; move these imports inside functions"


# ------------------------------------------------------------------------------------------------- meta-tests


def test_every_hook_has_a_test_hook_function() -> None:
    """datasette style: each hookspec needs a ``test_hook_<name>`` in some test file."""
    files = [*REPO.glob("tests/**/test_*.py"), *REPO.glob("plugins/*/tests/**/test_*.py")]
    defined = {m for f in files for m in re.findall(r"^\s*(?:async\s+)?def (test_hook_\w+)", f.read_text(), re.M)}
    missing = [
        name for name in sorted(hookspec_functions())
        if not any(test == f"test_hook_{name}" or test.startswith(f"test_hook_{name}_") for test in defined)
    ]
    assert missing == [], f"hooks without a test_hook_<name> test in tests/: {', '.join(missing)}"


def test_every_hook_signature_is_documented() -> None:
    doc = PLUGINS_DOC.read_text(encoding="utf-8")
    specs = hookspec_functions()
    signatures = {name: f"{name}({', '.join(inspect.signature(fn).parameters)})" for name, fn in specs.items()}
    missing = [sig for sig in signatures.values() if sig not in doc]
    assert missing == [], f"docs/plugins.md lacks these hook signatures: {', '.join(missing)}"
    assert len(signatures) >= 11
