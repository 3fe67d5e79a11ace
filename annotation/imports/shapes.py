"""The four row shapes an import accepts, and the check that turns one raw row into a ``Record``.

- prompts: ``prompt`` (a string or a list of messages), optional ``metadata``;
- responses: ``prompt`` + ``responses`` (exactly as many as an item of the project has);
- preference (TRL): ``prompt`` / ``chosen`` / ``rejected``, standard (strings) or conversational
  (message lists), or implicit-prompt conversational: ``chosen`` / ``rejected`` are whole
  conversations and the turns they share are the prompt. Pairwise projects only;
- messages (TRL conversational): ``messages``; the last (assistant) turn is the response, the
  turns before it the prompt. Projects whose items have one response only.

The item shapes also take an optional ``priority``. Every problem names the line and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from annotation.hashing import content_hash
from annotation.imports.records import Record, RowError, Shape

PAIRWISE = "pairwise"  # annotation.schemas.PAIRWISE, kept literal: this module needs nothing else there
ROLES = ("system", "user", "assistant")
# Written by the importer into Prompt.metadata (see ``Record.chosen``); a file may not set it.
PREFERENCE_KEY = "imported_preferences"

ALLOWED: dict[Shape, frozenset[str]] = {
    Shape.PROMPTS: frozenset({"prompt", "metadata"}),
    Shape.RESPONSES: frozenset({"prompt", "responses", "priority", "metadata"}),
    Shape.PREFERENCE: frozenset({"prompt", "chosen", "rejected", "priority", "metadata"}),
    Shape.MESSAGES: frozenset({"messages", "priority", "metadata"}),
}
REQUIRED: dict[Shape, tuple[str, ...]] = {
    Shape.PROMPTS: ("prompt",),
    Shape.RESPONSES: ("prompt", "responses"),
    Shape.PREFERENCE: ("chosen", "rejected"),
    Shape.MESSAGES: ("messages",),
}


@dataclass(frozen=True)
class Target:
    """What the project accepts: its task kind and how many responses one of its items has."""

    kind: str
    responses_per_item: int


class Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def shape_detect(keys: Iterable[str]) -> Shape | None:
    """The shape a row's keys point to (None when they fit none): the most specific key wins."""
    present = set(keys)
    if "messages" in present:
        return Shape.MESSAGES
    if present & {"chosen", "rejected"}:
        return Shape.PREFERENCE
    if "responses" in present:
        return Shape.RESPONSES
    if "prompt" in present:
        return Shape.PROMPTS
    return None


def shape_refusal(shape: Shape, target: Target) -> RowError | None:
    """Why every row of ``shape`` would be refused by this project (None when it fits).

    Reported without a line; callers that know where the shape came from add it.
    """
    if shape == Shape.PREFERENCE and target.kind != PAIRWISE:
        message = (
            "preference rows (prompt/chosen/rejected) become pairwise items; this is a "
            f"{target.kind} project: import them into a pairwise project"
        )
        return RowError(None, "chosen", message)
    if shape == Shape.MESSAGES and target.responses_per_item != 1:
        message = (
            "a messages row has one response (its last assistant turn); an item of this "
            f"{target.kind} project needs {target.responses_per_item}"
        )
        return RowError(None, "messages", message)
    return None


def keys_errors(shape: Shape, keys: Iterable[str], line: int | None) -> list[RowError]:
    present = set(keys)
    errors = [
        RowError(line, key, f"unknown field for {shape} rows; allowed: {', '.join(sorted(ALLOWED[shape]))}")
        for key in sorted(present - ALLOWED[shape])
    ]
    errors += [RowError(line, key, "is required") for key in REQUIRED[shape] if key not in present]
    return errors


# --- Field checks (each raises Invalid naming the field) ---------------------------------------------


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise Invalid(field, "must be a string" if value is not None else "is required")
    if not value.strip():
        raise Invalid(field, "must not be empty")
    return value


def conversation(value: Any, field: str) -> list[dict[str, str]]:
    """A non-empty list of ``{"role", "content"}`` messages, copied to plain dicts in that key order."""
    if not isinstance(value, list) or not value:
        raise Invalid(field, "must be a non-empty list of {role, content} messages")
    messages = []
    for n, message in enumerate(value):
        where = f"{field}[{n}]"
        if not isinstance(message, Mapping) or set(message) != {"role", "content"}:
            raise Invalid(where, "each message needs exactly 'role' and 'content'")
        if message["role"] not in ROLES:
            raise Invalid(f"{where}.role", f"must be one of {', '.join(ROLES)}")
        if not isinstance(message["content"], str):
            raise Invalid(f"{where}.content", "must be a string")
        messages.append({"role": message["role"], "content": message["content"]})
    if not any(m["content"].strip() for m in messages):
        raise Invalid(field, "must not be empty")
    return messages


def prompt_messages(value: Any, field: str = "prompt") -> list[dict[str, str]]:
    """A prompt as stored: a bare string is one user message (as ``item_create`` stores it)."""
    if isinstance(value, str):
        return [{"role": "user", "content": _text(value, field)}]
    if value is None:
        raise Invalid(field, "is required")
    if not isinstance(value, list):
        raise Invalid(field, "must be a string or a list of {role, content} messages")
    return conversation(value, field)


def _answer(value: Any, field: str) -> str:
    """A response: a string, or (conversational) a list holding one assistant message."""
    if isinstance(value, list):
        messages = conversation(value, field)
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            raise Invalid(field, "a conversational answer is one assistant message")
        return _text(messages[0]["content"], field)
    return _text(value, field)


def _priority(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("priority", "must be a finite number")
    return float(value)


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid("metadata", "must be an object")
    if PREFERENCE_KEY in value:
        raise Invalid(f"metadata.{PREFERENCE_KEY}", "is written by the importer; rename this key")
    return dict(value)


# --- Shapes ------------------------------------------------------------------------------------------


def _record(line: int, messages: list[dict[str, str]], responses: list[str], data: Mapping[str, Any]) -> Record:
    return Record(
        line=line,
        messages=messages,
        prompt_hash=content_hash(messages),
        responses=tuple(responses),
        response_hashes=tuple(content_hash(text) for text in responses),
        priority=_priority(data.get("priority")),
        metadata=_metadata(data.get("metadata")),
    )


def _responses(data: Mapping[str, Any], line: int, target: Target) -> Record:
    messages = prompt_messages(data.get("prompt"))
    value = data.get("responses")
    if not isinstance(value, list):
        raise Invalid("responses", "must be a list of strings")
    if len(value) != target.responses_per_item:
        raise Invalid(
            "responses",
            f"found {len(value)}; an item of this {target.kind} project has exactly {target.responses_per_item}",
        )
    texts = [_text(text, f"responses[{n}]") for n, text in enumerate(value)]
    if len(set(texts)) != len(texts):
        raise Invalid("responses", "the responses of one item must differ")
    return _record(line, messages, texts, data)


def _implicit_prompt(chosen: Any, rejected: Any) -> tuple[list[dict[str, str]], str, str]:
    """TRL's implicit prompt: the turns ``chosen`` and ``rejected`` share, and their last turns."""
    whole = {"chosen": conversation(chosen, "chosen"), "rejected": conversation(rejected, "rejected")}
    for field, messages in whole.items():
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise Invalid(field, "without a 'prompt', give the whole conversation, ending with the assistant's answer")
    if whole["chosen"][:-1] != whole["rejected"][:-1]:
        raise Invalid("rejected", "must share every turn but the last with 'chosen' (that shared part is the prompt)")
    return whole["chosen"][:-1], whole["chosen"][-1]["content"], whole["rejected"][-1]["content"]


def _preference(data: Mapping[str, Any], line: int) -> Record:
    if "prompt" in data:
        messages = prompt_messages(data.get("prompt"))
        chosen, rejected = _answer(data.get("chosen"), "chosen"), _answer(data.get("rejected"), "rejected")
    elif isinstance(data.get("chosen"), list):
        messages, chosen, rejected = _implicit_prompt(data.get("chosen"), data.get("rejected"))
        chosen, rejected = _text(chosen, "chosen"), _text(rejected, "rejected")
    else:
        raise Invalid("prompt", "is required unless 'chosen' and 'rejected' are whole conversations")
    if chosen == rejected:
        raise Invalid("rejected", "must differ from 'chosen'")
    # Positions follow the content hash, not chosen-first: with shuffling off, annotators would
    # otherwise always see the preferred answer on the same side.
    pair = sorted([chosen, rejected], key=content_hash)
    return replace(_record(line, messages, pair, data), chosen=pair.index(chosen))


def _messages(data: Mapping[str, Any], line: int) -> Record:
    messages = conversation(data.get("messages"), "messages")
    if len(messages) < 2 or messages[-1]["role"] != "assistant":
        raise Invalid("messages", "must end with the assistant's answer after at least one prompt turn")
    return _record(line, messages[:-1], [_text(messages[-1]["content"], "messages[-1].content")], data)


def _prompts(data: Mapping[str, Any], line: int) -> Record:
    return _record(line, prompt_messages(data.get("prompt")), [], data)


def record_validate(
    shape: Shape, data: Mapping[str, Any], *, line: int, target: Target, check_keys: bool = True
) -> Record | list[RowError]:
    """The normalised record of one row, or its errors (line + field).

    ``check_keys`` is off for tabular files, whose columns are checked once for the whole file.
    """
    errors = keys_errors(shape, data, line) if check_keys else []
    if errors:
        return errors
    try:
        if shape == Shape.RESPONSES:
            return _responses(data, line, target)
        if shape == Shape.PREFERENCE:
            return _preference(data, line)
        if shape == Shape.MESSAGES:
            return _messages(data, line)
        return _prompts(data, line)
    except Invalid as exc:
        return [RowError(line, exc.field, exc.message)]
