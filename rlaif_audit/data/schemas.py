"""Turn one row into the two sides of a pair, by schema: native (context, a, b), TRL preference (prompt, chosen,
rejected) and implicit prompt (chosen, rejected as whole conversations or HH-RLHF transcripts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from rlaif_audit.data.sources import RowError
from rlaif_audit.errors import InputError
from rlaif_audit.records.types import Message

ROLES = ("system", "user", "assistant")
PREFERRED_VALUES = ("a", "b", "tie")
SOURCE_ANNOTATOR = "source"
SCHEMA_HELP = (
    "native (context, a, b), TRL preference (prompt, chosen, rejected), "
    "or implicit prompt (chosen, rejected as full conversations or HH-RLHF transcripts)"
)
REQUIRED = {
    "native": (("context", "prompt"), ("a",), ("b",)),
    "preference": (("prompt",), ("chosen",), ("rejected",)),
    "implicit": (("chosen",), ("rejected",)),
}
KNOWN_FIELDS = {
    "native": {"id", "context", "prompt", "a", "b", "preferred", "annotator", "labels", "metadata"},
    "preference": {"id", "prompt", "chosen", "rejected", "metadata"},
    "implicit": {"id", "chosen", "rejected", "metadata"},
}
HH_ASSISTANT = "\n\nAssistant:"
HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
HH_ROLES = {"Human": "user", "Assistant": "assistant"}


@dataclass
class Sides:
    """A row's two responses with the conversation each one answers."""

    context_a: list[Message]
    a: str
    context_b: list[Message]
    b: str
    labels: list[tuple[str, str]]


def detect_schema(columns: Iterable[str], display: str, line: int | None = None) -> str:
    """Which schema the field names describe: native, preference or implicit."""
    keys = set(columns)
    if keys & {"a", "b"}:
        return "native"
    if keys & {"chosen", "rejected"}:
        return "preference" if "prompt" in keys else "implicit"
    message = f"cannot tell the schema from the fields {sorted(keys)}; expected {SCHEMA_HELP}"
    raise InputError(display, message, line=line)


def required(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None:
        raise RowError(name, "is missing" if name not in record else "is null")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RowError(name, f"must be a string, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), type(value).__name__)


def _messages(value: Any, name: str) -> list[Message]:
    """A context: a string (one user message) or a list of {role, content} messages; never empty."""
    if isinstance(value, str):
        if not value.strip():
            raise RowError(name, "is empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise RowError(name, f"must be a string or a list of {{role, content}} messages, got {type_name(value)}")
    if not value:
        raise RowError(name, "is an empty list of messages")
    return [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _message(item: Any, name: str) -> Message:
    if not isinstance(item, dict):
        raise RowError(name, f"must be a {{role, content}} message, got {type_name(item)}")
    role, content = item.get("role"), item.get("content")
    if role not in ROLES:
        raise RowError(f"{name}.role", f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if not isinstance(content, str):
        raise RowError(f"{name}.content", f"must be a string, got {type_name(content)}")
    return {"role": role, "content": content}


def _final_reply(value: Any, name: str) -> tuple[list[Message], str]:
    """A response given as a string, or as messages whose last one is the assistant's reply."""
    if isinstance(value, str):
        return [], value
    if not isinstance(value, list) or not value:
        raise RowError(name, f"must be a string or a non-empty list of messages, got {type_name(value)}")
    messages = [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]
    if messages[-1]["role"] != "assistant":
        raise RowError(f"{name}[{len(value) - 1}].role", "the last message must be the assistant's reply")
    return messages[:-1], messages[-1]["content"]


def _conversation(value: Any, name: str) -> tuple[list[Message], str]:
    """An implicit-prompt side: an HH-RLHF transcript string or a whole chat conversation."""
    if isinstance(value, str):
        return split_hh_transcript(value, name)
    context, reply = _final_reply(value, name)
    if not context:
        raise RowError(name, "has only the reply; an implicit-prompt conversation needs the prompt messages too")
    return context, reply


def split_hh_transcript(text: str, name: str = "chosen") -> tuple[list[Message], str]:
    """Split '\\n\\nHuman: ...\\n\\nAssistant: ...' into the conversation and the final assistant reply."""
    marker = text.rfind(HH_ASSISTANT)
    if marker < 0:
        raise RowError(
            name,
            "is a string without '\\n\\nAssistant:'; without a 'prompt' field, chosen and rejected must be "
            "HH-RLHF transcripts or chat message lists",
        )
    parts = HH_TURN.split(text[:marker])
    if parts[0].strip():
        raise RowError(name, "has text before the first 'Human:' turn; not an HH-RLHF transcript")
    context = [{"role": HH_ROLES[role], "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2])]
    if not context:
        raise RowError(name, "has no conversation before the final 'Assistant:' reply")
    return context, text[marker + len(HH_ASSISTANT) :].strip()


def native_sides(record: dict[str, Any]) -> Sides:
    context_field = "context" if "context" in record else "prompt"
    context = _messages(required(record, context_field), context_field)
    a, b = _text(required(record, "a"), "a"), _text(required(record, "b"), "b")
    return Sides(context, a, context, b, _native_labels(record))


def _native_labels(record: dict[str, Any]) -> list[tuple[str, str]]:
    labels: list[tuple[str, str]] = []
    if record.get("preferred") is not None:
        annotator = annotator_name(record.get("annotator"), "annotator", SOURCE_ANNOTATOR)
        labels.append((parse_preferred(record["preferred"], "preferred"), annotator))
    listed = record.get("labels")
    if listed is not None:
        labels.extend(_label_list(listed))
    annotators = [annotator for _, annotator in labels]
    repeated = sorted({name for name in annotators if annotators.count(name) > 1})
    if repeated:
        raise RowError("labels", f"annotator {repeated[0]!r} labels this pair more than once")
    return labels


def _label_list(listed: Any) -> list[tuple[str, str]]:
    if not isinstance(listed, list):
        raise RowError("labels", f"must be a list of {{annotator, preferred}} objects, got {type_name(listed)}")
    labels = []
    for i, item in enumerate(listed):
        if not isinstance(item, dict):
            raise RowError(f"labels[{i}]", f"must be an {{annotator, preferred}} object, got {type_name(item)}")
        preferred = parse_preferred(_required_in(item, "preferred", f"labels[{i}]"), f"labels[{i}].preferred")
        annotator = annotator_name(_required_in(item, "annotator", f"labels[{i}]"), f"labels[{i}].annotator", "")
        labels.append((preferred, annotator))
    return labels


def _required_in(item: dict[str, Any], key: str, prefix: str) -> Any:
    if item.get(key) is None:
        raise RowError(f"{prefix}.{key}", "is missing")
    return item[key]


def annotator_name(value: Any, name: str, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise RowError(name, f"must be a non-empty string, got {value!r}")
    return str(value).strip()


def parse_preferred(value: Any, name: str = "preferred") -> str:
    """'a', 'b' or 'tie' (any case); anything else is an error listing the valid values."""
    if isinstance(value, str) and value.strip().lower() in PREFERRED_VALUES:
        return value.strip().lower()
    raise RowError(name, f"unknown value {value!r}; valid values: {', '.join(PREFERRED_VALUES)}")


def chosen_rejected_sides(record: dict[str, Any], schema: str, chosen_first: bool) -> Sides:
    """A chosen/rejected row's sides: chosen in slot A when ``chosen_first`` (the seeded coin), else in slot B."""
    if schema == "preference":
        prompt = _messages(required(record, "prompt"), "prompt")
        chosen_extra, chosen = _final_reply(required(record, "chosen"), "chosen")
        rejected_extra, rejected = _final_reply(required(record, "rejected"), "rejected")
        chosen_side, rejected_side = (prompt + chosen_extra, chosen), (prompt + rejected_extra, rejected)
    else:
        chosen_side = _conversation(required(record, "chosen"), "chosen")
        rejected_side = _conversation(required(record, "rejected"), "rejected")
    if chosen_first:
        return Sides(*chosen_side, *rejected_side, [("a", SOURCE_ANNOTATOR)])
    return Sides(*rejected_side, *chosen_side, [("b", SOURCE_ANNOTATOR)])


def row_metadata(record: dict[str, Any], schema: str) -> dict[str, Any]:
    given = record.get("metadata")
    if given is not None and not isinstance(given, dict):
        raise RowError("metadata", f"must be an object, got {type_name(given)}")
    known = KNOWN_FIELDS[schema] - ({"prompt"} if schema == "native" and "context" in record else set())
    extras = {key: value for key, value in record.items() if key not in known}
    return {**(given or {}), **extras}


def row_pair_id(record: dict[str, Any], index: int, id_column: bool) -> str:
    if not id_column:
        return f"row-{index}"
    value = required(record, "id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError("id", f"must be a string or an integer, got {type_name(value)}")
    if not str(value).strip():
        raise RowError("id", "is empty")
    return str(value)
