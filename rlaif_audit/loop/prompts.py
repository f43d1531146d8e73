"""The run's prompts: read a JSONL prompt file, shuffle with the seed, split train / held-out eval, freeze."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.loop.layout import PROMPTS
from rlaif_audit.records.fileio import atomic_write_text, json_line, jsonl_lines

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


def bundled_prompts() -> Path:
    """The prompt set shipped with rlaif-audit: 100 helpful and harmlessness-probing requests."""
    return Path(str(resources.files("rlaif_audit").joinpath("resources", "prompts.jsonl")))


def _prompt_row(path: str, line: int, text: str) -> dict[str, Any]:
    """One prompt file line as ``{"id", "prompt", "category"}``; errors name the line and field."""
    row = json_line(path, line, text)
    if not isinstance(row, dict):
        raise InputError(path, "each line must be a JSON object with a 'prompt'", line=line)
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(path, f"must be a non-empty string, got {prompt!r}", line=line, field="prompt")
    prompt_id = row.get("id", f"row-{line}")
    if isinstance(prompt_id, bool) or not isinstance(prompt_id, (str, int)) or str(prompt_id) == "":
        raise InputError(path, f"must be a non-empty string, got {prompt_id!r}", line=line, field="id")
    category = row.get("category")
    if category is not None and (isinstance(category, bool) or not isinstance(category, (str, int, float))):
        raise InputError(path, f"must be a string, got {category!r}", line=line, field="category")
    return {"id": str(prompt_id), "prompt": prompt, "category": "" if category is None else str(category)}


def read_prompts(path: Path | str) -> list[dict[str, Any]]:
    """Rows ``{"id", "prompt", "category"}`` of a JSONL prompt file; errors name the line and field."""
    path_str = str(path)
    if not Path(path).is_file():
        raise InputError(path_str, "cannot read the prompt file: no such file")
    rows, seen = [], {}
    for number, text in jsonl_lines(path):
        row = _prompt_row(path_str, number, text)
        if row["id"] in seen:
            raise InputError(path_str, f"duplicate id {row['id']!r} (first on line {seen[row['id']]})",
                             line=number, field="id")
        seen[row["id"]] = number
        rows.append(row)
    if not rows:
        raise InputError(path_str, "holds no prompts")
    return rows


def split_prompts(rows: list[dict[str, Any]], num_prompts: int, eval_prompts: int, seed: int) -> list[dict[str, Any]]:
    """A seeded shuffle, the first ``num_prompts`` kept (0: all), the last ``eval_prompts`` of them held out."""
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    chosen = shuffled[: num_prompts or len(shuffled)]
    if len(chosen) - eval_prompts < 2:
        raise ConfigError(f"{len(chosen)} prompts leave fewer than 2 for training after holding out "
                          f"eval_prompts={eval_prompts}: raise num_prompts or lower eval_prompts")
    for index, row in enumerate(chosen):
        row["split"] = "eval" if index >= len(chosen) - eval_prompts else "train"
    return chosen


def run_prompts(run: Run, split: str | None = None) -> list[dict[str, Any]]:
    """The run's frozen prompt list (written into the run folder on first use), optionally one split."""
    path = run.folder / PROMPTS
    if not path.exists():
        config = run.config
        rows = split_prompts(read_prompts(config.prompts or bundled_prompts()), config.num_prompts,
                             config.eval_prompts, config.seed)
        atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if split is None or row["split"] == split]


def messages(prompt: str) -> list[dict[str, str]]:
    """A prompt as a one-turn conversation."""
    return [{"role": "user", "content": prompt}]
