"""The model-card rules: the "RLAIF audit" section between markers, its metadata and the machine-readable results.

One home for what ``rlaif-audit attach`` and the loop's checkpoints write into a Hugging Face README.md: the
section (headline grouped by what it describes, a sentence of meaning per metric, figures, provenance) between
:data:`MARKER_BEGIN` and :data:`MARKER_END`, everything outside the markers kept byte for byte; the front matter
through ``huggingface_hub`` (``ModelCardData``: base_model, license, datasets, pipeline_tag where known, and a
``model-index`` of ``EvalResult``); and ``.eval_results/rlaif-audit.yaml`` (``EvalResultEntry``) when the audited
data is a Hub dataset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.reporting.text import fmt_interval, fmt_number, headline_digits, identity_text, md_cell

if TYPE_CHECKING:
    import pluggy

    from rlaif_audit.reporting.report import HeadlineRow, Report

MARKER_BEGIN = "<!-- rlaif-audit:begin — written by `rlaif-audit attach`; edits between the markers are replaced -->"
MARKER_END = "<!-- rlaif-audit:end -->"
SECTION_TITLE = "## RLAIF audit"
EVAL_RESULTS_FILE = ".eval_results/rlaif-audit.yaml"
TASK_PREFIX = "RLAIF audit"
"""The ``task_name`` of every model-index result this tool writes (so an update replaces only its own)."""
TOOL_TAG = "rlaif-audit"
SUBJECTS = {"evaluator": "AI evaluator (the judge whose preferences trained this model)",
            "policy": "Policy (the tuned model, against the reference policy)",
            "reward model": "Reward model (trained on the AI preferences)"}
PIPELINES = (("ForSequenceClassification", "text-classification"), ("ForCausalLM", "text-generation"),
             ("ForConditionalGeneration", "text-generation"))
"""Architecture suffix in config.json → pipeline_tag."""
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class CardError(ValueError):
    """A README.md that cannot be updated (a marker without its pair, front matter that does not parse)."""


@dataclass
class CardFacts:
    """What the card's metadata says about the checkpoint, each only where known (user values in the card win)."""

    model_name: str
    base_model: str | None = None
    license: str | None = None
    datasets: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Declared:
    """An auditor's declarations the card reads: subject, headline metrics, sentences of meaning."""

    subject: str = "evaluator"
    headline: tuple[str, ...] = ()
    meanings: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------- facts


def hub_id(text: str | None) -> str | None:
    """``owner/name`` when a model name is a Hub repo id (``owner/name``, not a local folder), else None."""
    if not text or str(text).startswith(("/", ".", "~")) or Path(str(text)).exists():
        return None
    return str(text) if HUB_ID.match(str(text)) else None


def hub_dataset(source: str | None) -> str | None:
    """``owner/name`` of a data source given as a Hub dataset (``hf://owner/name[/config…]``), else None."""
    if not source or not str(source).startswith("hf://"):
        return None
    repo = "/".join(str(source)[len("hf://"):].split("/")[:2]).split("@")[0]
    return repo if HUB_ID.match(repo) else None


def source_label(source: str | None) -> str:
    """Where the data came from, with no local directories: a Hub id or URL as given, a local file by its name."""
    if not source:
        return "unknown"
    text = str(source)
    if "://" in text:
        return text
    return Path(text).name or text


def checkpoint_facts(folder: Path, report: Report, *, base_model: str | None = None, license: str | None = None,
                     datasets: Sequence[str] = (), tags: Sequence[str] = ()) -> CardFacts:
    """The metadata a checkpoint folder and its report tell: config.json's architecture, a PEFT adapter's base."""
    config = _json_file(folder / "config.json")
    adapter = _json_file(folder / "adapter_config.json")
    architectures = [str(a) for a in config.get("architectures") or []]
    pipeline = next((tag for suffix, tag in PIPELINES for a in architectures if a.endswith(suffix)), None)
    base = base_model or hub_id(adapter.get("base_model_name_or_path")) or hub_id(config.get("_name_or_path"))
    found = [d for d in (hub_dataset(report.data.source),) if d]
    library = "peft" if adapter else "transformers" if config else None
    return CardFacts(model_name=folder.resolve().name, base_model=base, license=license,
                     datasets=list(dict.fromkeys([*datasets, *found])), pipeline_tag=pipeline,
                     library_name=library, tags=list(tags))


def _json_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def declarations(pm: pluggy.PluginManager | None) -> dict[str, Declared]:
    """Auditor name → its card declarations, from the registered auditors (an unknown one: evaluator, none)."""
    if pm is None:
        return {}
    from rlaif_audit.auditing.runner import declarations as declared_class
    from rlaif_audit.host import auditors

    registry = auditors(pm)
    out = {}
    for name in registry.names():
        cls = declared_class(registry.get(name))
        out[name] = Declared(cls.subject if cls.subject in SUBJECTS else "evaluator", tuple(cls.headline),
                             dict(cls.meanings))
    return out


# ----------------------------------------------------------------------------------------------------- section


def card_rows(report: Report, declared: dict[str, Declared]) -> dict[str, list[HeadlineRow]]:
    """Subject → headline rows: every declared headline metric an auditor measured (else its report headline)."""
    from rlaif_audit.reporting.report import HeadlineRow

    grouped: dict[str, list[HeadlineRow]] = {subject: [] for subject in SUBJECTS}
    for name, outcome in report.ok_auditors():
        known = declared.get(name, Declared())
        rows = [HeadlineRow.of(name, metric, outcome.metrics[metric]) for metric in known.headline
                if metric in outcome.metrics and _finite(outcome.metrics[metric].value)]
        grouped[known.subject] += rows or [row for row in report.headline if row.auditor == name and _finite(row.value)]
    return {subject: rows for subject, rows in grouped.items() if rows}


def _finite(value: float | None) -> bool:
    """A number the Hub's model-index can hold (it refuses results without a value)."""
    import math

    return value is not None and math.isfinite(value)


def meaning(row: HeadlineRow, declared: dict[str, Declared]) -> str:
    """The auditor's sentence for this metric with its numbers filled in; empty when none is declared."""
    template = declared.get(row.auditor, Declared()).meanings.get(row.metric)
    if not template or row.value is None:
        return ""
    low, high = row.ci or (None, None)
    try:
        return template.format(value=row.value, low=low, high=high, n=row.n)
    except (KeyError, IndexError, TypeError, ValueError):
        return ""


def figure_lines(report: Report, folder: Path, prefix: str = "") -> list[str]:
    """Markdown images of the report's PNG figures found in ``folder`` (model cards show images, not SVG)."""
    from rlaif_audit.reporting.figures import report_figures

    shown = [spec for spec in report_figures(report) if (folder / spec.png_path).is_file()]
    return ["### Figures", "", *(f"![{md_cell(spec.title)}]({prefix}{spec.png_path})" for spec in shown),
            ""] if shown else []


def audit_section(report: Report, declared: dict[str, Declared], figures: Sequence[str] = (),
                  report_link: str = "report.md") -> str:
    """The section between the markers: what was audited, the grouped headline, what did not run, provenance."""
    evaluator, data = report.evaluator, report.data
    intro = (f"The AI evaluator `{md_cell(evaluator.name or 'unknown')}` was audited with rlaif-audit "
             f"{md_cell(str(report.tool_version))} on {data.n_pairs} preference pairs from "
             f"`{md_cell(source_label(data.source))}` (data hash `{(data.hash or '—')[:16]}`). Every number has its "
             f"95% confidence interval and n; the full report is [{report_link}]({report_link}) (also report.html "
             "and report.json).")
    lines = [SECTION_TITLE, "", intro, ""]
    for subject, rows in card_rows(report, declared).items():
        lines += [f"### {SUBJECTS[subject]}", "", "| Metric | Value | 95% CI | n | What it means |",
                  "|---|---|---|---|---|"]
        for row in rows:
            digits = headline_digits(row)
            lines.append(f"| `{md_cell(row.key)}` | {fmt_number(row.value, digits)} | "
                         f"{fmt_interval(row.ci, row.note, digits)} | {row.n} | {md_cell(meaning(row, declared))} |")
        lines.append("")
    skipped: dict[str, list[str]] = {}
    for name, outcome in report.not_ok_auditors():
        skipped.setdefault(str(outcome.reason or outcome.status), []).append(f"`{md_cell(name)}`")
    if skipped:
        lines += ["Not measured: " + "; ".join(f"{', '.join(names)} ({md_cell(reason)})"
                                               for reason, names in skipped.items()) + ".", ""]
    lines += [*figures, (f"Evaluator identity `{identity_text(evaluator)}`; seed {report.seed}; "
                         f"{report.n_bootstrap} bootstrap resamples; report schema {report.schema_version}.")]
    return "\n".join(lines)


def with_section(body: str, section: str) -> str:
    """``body`` with the marked section replaced (or appended), every byte outside the markers unchanged."""
    block = f"{MARKER_BEGIN}\n{section}\n{MARKER_END}"
    begin, end = body.find(MARKER_BEGIN), body.find(MARKER_END)
    if (begin < 0) != (end < 0) or (begin >= 0 and end < begin):
        raise CardError(f"README.md has one rlaif-audit marker without the other ({MARKER_BEGIN!r} … "
                        f"{MARKER_END!r}); fix or remove it")
    if begin >= 0:
        return body[:begin] + block + body[end + len(MARKER_END):]
    gap = "" if not body else "\n" if body.endswith("\n") else "\n\n"
    return body + gap + block + "\n"


# ---------------------------------------------------------------------------------------------------- metadata


def eval_results(report: Report, facts: CardFacts, declared: dict[str, Declared]) -> list[Any]:
    """The model-index results: one ``EvalResult`` per headline metric, named by its subject."""
    from huggingface_hub import EvalResult

    dataset = facts.datasets[0] if facts.datasets else None
    out = []
    for subject, rows in card_rows(report, declared).items():
        for row in rows:
            low, high = row.ci or (None, None)
            out.append(EvalResult(
                task_type=facts.pipeline_tag or "text-generation", task_name=f"{TASK_PREFIX}: {subject}",
                dataset_type=dataset or "local", dataset_name=source_label(report.data.source),
                dataset_args={"data_hash": report.data.hash, "n_pairs": report.data.n_pairs},
                metric_type=f"rlaif-audit/{row.key}", metric_name=row.key, metric_value=_rounded(row.value),
                metric_args={"ci_low": _rounded(low), "ci_high": _rounded(high), "n": row.n,
                             "evaluator": report.evaluator.name}))
    return out


def eval_result_entries(report: Report, facts: CardFacts, declared: dict[str, Declared]) -> list[Any]:
    """``.eval_results`` entries (``EvalResultEntry``) of the headline, only when the data is a Hub dataset."""
    from huggingface_hub import EvalResultEntry

    dataset = hub_dataset(report.data.source)
    if dataset is None:
        return []
    return [EvalResultEntry(dataset_id=dataset, task_id=f"rlaif-audit/{row.key}", value=_rounded(row.value),
                            date=report.created_at or None,
                            notes=f"95% CI {fmt_interval(row.ci, row.note)}, n={row.n}; evaluator "
                                  f"{report.evaluator.name}. {meaning(row, declared)}".strip())
            for rows in card_rows(report, declared).values() for row in rows]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def front_matter(existing: dict[str, Any], report: Report, facts: CardFacts, declared: dict[str, Declared]) -> str:
    """The YAML front matter: the card's own keys kept (and their order), ours added, our model-index replaced."""
    from huggingface_hub import ModelCardData

    try:
        data = ModelCardData(**existing)
    except ValueError as exc:
        raise CardError(f"README.md front matter: {exc}") from exc
    for key in ("base_model", "license", "pipeline_tag", "library_name"):
        if getattr(data, key, None) is None and getattr(facts, key) is not None:
            setattr(data, key, getattr(facts, key))
    if facts.datasets and not data.datasets:
        data.datasets = list(facts.datasets)
    data.tags = list(dict.fromkeys([*(data.tags or []), *facts.tags, TOOL_TAG]))
    kept = [r for r in data.eval_results or [] if not str(r.task_name or "").startswith(TASK_PREFIX)]
    data.eval_results = kept + eval_results(report, facts, declared)
    data.model_name = data.model_name or facts.model_name
    return data.to_yaml(original_order=list(existing))


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """(front matter as a dict, the rest byte for byte) of a README.md."""
    import yaml
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    match = REGEX_YAML_BLOCK.search(text)
    if not match:
        return {}, text
    try:
        loaded = yaml.safe_load(match.group(2)) or {}
    except yaml.YAMLError as exc:
        raise CardError(f"README.md front matter is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise CardError("README.md front matter is not a YAML mapping")
    return loaded, text[match.end():]


def card_text(existing: str, report: Report, facts: CardFacts, declared: dict[str, Declared],
              section: str, intro: str = "") -> str:
    """The whole README.md: front matter updated, the marked section in place, the rest as it was.

    ``intro``: the text above the section of a card that does not exist yet (default: a title). The result is
    parsed back by ``huggingface_hub.ModelCard`` (front matter, model-index) before it is returned.
    """
    from huggingface_hub import ModelCard

    metadata, body = split_card(existing)
    if not existing:
        body = intro or f"# {facts.model_name}\n"
    text = f"---\n{front_matter(metadata, report, facts, declared)}\n---\n" + with_section(body, section)
    try:
        ModelCard(text, ignore_metadata_errors=False)
    except ValueError as exc:
        raise CardError(f"the updated card does not load with huggingface_hub: {exc}") from exc
    return text


def eval_results_yaml(report: Report, facts: CardFacts, declared: dict[str, Declared]) -> str | None:
    """``.eval_results/rlaif-audit.yaml`` text, or None when the data is no Hub dataset."""
    import yaml

    try:
        from huggingface_hub import eval_result_entries_to_yaml
    except ImportError:  # a huggingface_hub older than the .eval_results format
        return None
    entries = eval_result_entries(report, facts, declared)
    if not entries:
        return None
    return yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False, allow_unicode=True)


# ------------------------------------------------------------------------------------------------------ writing

SIDECAR = "rlaif-audit"
"""The folder beside README.md that holds the full report when ``attach`` copies one in."""
REPORT_FILES = ("report.json", "report.md", "report.html", "review_queue.jsonl")
FIGURES = "figures"


def checkpoint_card(checkpoint: Path, report: Report, facts: CardFacts, pm: pluggy.PluginManager | None,
                    files_at: Path, link_prefix: str = "", intro: str = "") -> str:
    """The README.md text of ``checkpoint`` with this report's section (its files in ``files_at``)."""
    declared = declarations(pm)
    section = audit_section(report, declared, figure_lines(report, files_at, link_prefix), f"{link_prefix}report.md")
    return card_text(_readme(checkpoint), report, facts, declared, section, intro)


def write_card(checkpoint: Path, report: Report, facts: CardFacts, pm: pluggy.PluginManager | None,
               files_at: Path, link_prefix: str = "") -> list[Path]:
    """Update ``checkpoint/README.md`` (and ``.eval_results/rlaif-audit.yaml``); the files whose bytes changed.

    The report's files lie in ``files_at``, linked from the card as ``link_prefix`` + name.
    """
    declared = declarations(pm)
    readme = checkpoint / "README.md"
    text = checkpoint_card(checkpoint, report, facts, pm, files_at, link_prefix)
    changed = [path for path, content in ((readme, text), (checkpoint / EVAL_RESULTS_FILE,
                                                           eval_results_yaml(report, facts, declared)))
               if content is not None and _write_if_changed(path, content.encode("utf-8"))]
    return changed


def _write_if_changed(path: Path, blob: bytes) -> bool:
    from rlaif_audit.records.fileio import atomic_write_bytes

    if path.is_file() and path.read_bytes() == blob:
        return False
    atomic_write_bytes(path, blob)
    return True


def copy_sidecar(report_dir: Path, target: Path) -> list[Path]:
    """Copy the report files and their figures into ``target`` (replaced whole, atomically); the files copied."""
    import os
    import shutil

    from rlaif_audit.records.fileio import make_temp_dir

    if report_dir.resolve() == target.resolve():
        return []
    names = [name for name in REPORT_FILES if (report_dir / name).is_file()]
    figures = sorted(p for p in (report_dir / FIGURES).glob("*") if p.is_file()) if (report_dir / FIGURES).is_dir() \
        else []
    wanted = {name: report_dir / name for name in names} | {f"{FIGURES}/{f.name}": f for f in figures}
    if _same_files(target, wanted):
        return []
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target)
    try:
        for name in names:
            shutil.copyfile(report_dir / name, tmp / name)
        if figures:
            (tmp / FIGURES).mkdir()
            for figure in figures:
                shutil.copyfile(figure, tmp / FIGURES / figure.name)
        old = target.with_name(f".{target.name}.old") if target.exists() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [target / name for name in names] + [target / FIGURES / f.name for f in figures]


def _same_files(target: Path, wanted: dict[str, Path]) -> bool:
    """Whether ``target`` holds exactly these files with these bytes."""
    if not target.is_dir():
        return False
    present = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    return present == set(wanted) and all((target / name).read_bytes() == source.read_bytes()
                                          for name, source in wanted.items())


def attach_report(report_dir: Path, checkpoint: Path, pm: pluggy.PluginManager | None, **facts: Any) -> list[Path]:
    """``rlaif-audit attach``: the sidecar copy of REPORT_DIR and the card section of CHECKPOINT_DIR's README.md.

    ``facts``: ``base_model``, ``license``, ``datasets``, ``tags`` given by the user (else read from the folder).
    """
    from rlaif_audit.records.fileio import read_json
    from rlaif_audit.reporting.report import Report

    report = Report.from_dict(read_json(report_dir / "report.json"))
    card_facts = checkpoint_facts(checkpoint, report, **facts)
    declared = declarations(pm)
    card_text(_readme(checkpoint), report, card_facts, declared, "")  # a broken README stops before any copy
    copied = copy_sidecar(report_dir, checkpoint / SIDECAR)
    return copied + write_card(checkpoint, report, card_facts, pm, checkpoint / SIDECAR, f"{SIDECAR}/")


def _readme(checkpoint: Path) -> str:
    readme = checkpoint / "README.md"
    return readme.read_bytes().decode("utf-8") if readme.is_file() else ""
