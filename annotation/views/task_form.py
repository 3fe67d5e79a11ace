"""Between the task forms and the queue: read a posted answer, and lay a form out for the templates.

Pure module (no ORM). The page's script sends the answer as JSON in the ``payload`` field; without
JavaScript the plain form fields are read instead, so both paths reach the same schema check in
``judgment_submit``:

- pairwise: ``choice`` (a response id, ``tie`` or ``both_bad``), ``strength``, ``reason``;
- ranking: ``rank_<response id>`` (1 = best; equal numbers are a tie);
- rating: ``score_<aspect>`` and ``comment_<aspect>``;
- free text: ``critique`` and ``edited_text`` (the textarea prefilled with the response).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from annotation.schemas import PAIRWISE, RANKING, RATING, Aspect, FieldError, SchemaError, config_parse
from annotation.selectors import ShownResponse
from annotation.views.shortcuts import STRENGTH_KEYS

_RANK_FIELD = re.compile(r"^rank_(\d{1,18})$")
_ASPECT_FIELD = re.compile(r"^(?:score|comment)_([a-z][a-z0-9_]{0,39})$")

SKIP_REASONS: tuple[tuple[str, str], ...] = (
    ("expertise", "I don't know enough about this topic"),
    ("unclear", "The prompt is unclear"),
    ("too_long", "Too long to judge carefully"),
    ("other", "Other (say why below)"),
)
FLAG_REASONS: tuple[tuple[str, str], ...] = (
    ("unsafe", "Harmful or unsafe content"),
    ("personal_data", "Contains personal data"),
    ("broken", "Broken or garbled item"),
    ("other", "Other (say why below)"),
)
_FIELD_LABELS = {
    "outcome": "Choice",
    "preferred": "Choice",
    "strength": "Strength",
    "reason": "Reason",
    "ranking": "Ranking",
    "critique": "Critique",
    "edited_text": "Edited response",
    "payload": "Answer",
    "client_key": "Form",
}


class UnreadableAnswer(SchemaError):
    """A posted form that does not make an answer yet; ``values`` is what could be read, to show again."""

    def __init__(self, errors: Sequence[FieldError], values: Mapping[str, Any] | None = None) -> None:
        self.values = dict(values or {})
        super().__init__(errors)


def _text(value: str) -> str:
    # Browsers send textarea line breaks as CRLF; stored texts (and the original response) use LF.
    return value.replace("\r\n", "\n").replace("\r", "\n")


def payload_from_post(kind: str, data: QueryDict) -> Any:
    """The answer as posted: the JSON ``payload`` field when present, else the plain form fields.

    Raises UnreadableAnswer only for input that cannot be read as an answer; whether the answer is complete
    and allowed is for ``annotation.schemas.payload_validate`` (through the service) to say.
    """
    raw = data.get("payload", "").strip()
    if raw:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise UnreadableAnswer([FieldError("payload", "the answer could not be read; reload the page")]) from exc
    if kind == PAIRWISE:
        return _pairwise_fields(data)
    if kind == RANKING:
        return _ranking_fields(data)
    if kind == RATING:
        return _rating_fields(data)
    return _free_text_fields(data)


def _pairwise_fields(data: QueryDict) -> dict[str, Any]:
    choice = data.get("choice", "")
    payload: dict[str, Any] = {}
    if "reason" in data:
        payload["reason"] = _text(data.get("reason", ""))
    if not choice:
        raise UnreadableAnswer([FieldError("outcome", "choose A, B, tie or both bad")], values=payload)
    if choice.isdigit():
        return payload | {"outcome": "preferred", "preferred": int(choice), "strength": data.get("strength") or None}
    # Without JavaScript the strength group stays visible: a strength left selected is not part of
    # a tie or a both-bad answer, so it is dropped rather than refused.
    return payload | {"outcome": choice}


def _ranking_fields(data: QueryDict) -> dict[str, Any]:
    ranks: dict[int, int] = {}
    for key in data:
        match = _RANK_FIELD.match(key)
        if match is None:
            continue
        try:
            ranks[int(match.group(1))] = int(data.get(key, ""))
        except ValueError:
            raise UnreadableAnswer([FieldError("ranking", "give every response a rank number")]) from None
    tiers = [[rid for rid, rank in ranks.items() if rank == value] for value in sorted(set(ranks.values()))]
    return {"ranking": tiers}


def _rating_fields(data: QueryDict) -> dict[str, Any]:
    names = dict.fromkeys(m.group(1) for m in map(_ASPECT_FIELD.match, data) if m is not None)
    ratings: dict[str, Any] = {}
    for name in names:
        score = data.get(f"score_{name}", "")
        if not score:
            continue  # an unrated aspect is left out; the schema says whether it was required
        entry: dict[str, Any] = {"score": _int_or_raw(score)}
        comment = _text(data.get(f"comment_{name}", ""))
        if comment:
            entry["comment"] = comment
        ratings[name] = entry
    return {"ratings": ratings}


def _int_or_raw(value: str) -> int | str:
    # A score that is not a number is passed on as it came, for the schema to name the field.
    try:
        return int(value)
    except ValueError:
        return value


def _free_text_fields(data: QueryDict) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if "critique" in data:
        payload["critique"] = _text(data.get("critique", ""))
    if "edited_text" in data:
        payload["edited_text"] = _text(data.get("edited_text", ""))
    return payload


def release_reason_from_post(data: QueryDict, choices: Sequence[tuple[str, str]]) -> str:
    """The reason a skip or flag records: the chosen label, plus the annotator's words if any."""
    labels = dict(choices)
    choice = data.get("reason", "")
    detail = _text(data.get("detail", "")).strip()
    if choice and choice not in labels:
        raise SchemaError([FieldError("reason", "choose one of the listed reasons")])
    if not choice and not detail:
        raise SchemaError([FieldError("reason", "say why")])
    if choice == "other" and not detail:
        raise SchemaError([FieldError("detail", "say why in a few words")])
    if choice in ("", "other"):
        return detail
    return f"{labels[choice]}: {detail}" if detail else labels[choice]


# --- Presentation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AspectRow:
    aspect: Aspect
    points: list[int]
    digits_are_values: bool  # the scale fits 0-9, so a digit key picks that score; else the n-th point
    score: Any
    comment: str
    errors: list[str]


@dataclass(frozen=True)
class RankRow:
    response: ShownResponse
    position: int  # 1-based place in the list as shown
    rank: int  # 1-based tier number; equal for tied rows
    tied: bool  # in the same tier as the row above


@dataclass(frozen=True)
class TaskForm:
    """Everything a kind's form partial needs, with the annotator's last answer when re-shown."""

    kind: str
    config: Any
    errors: dict[str, list[str]] = field(default_factory=dict)  # field -> messages
    all_errors: list[str] = field(default_factory=list)
    values: Mapping[str, Any] = field(default_factory=dict)
    choice: str = ""  # pairwise: a response id, "tie" or "both_bad"
    strengths: list[tuple[str, str, int]] = field(default_factory=list)  # (key, label, n)
    ranks: list[RankRow] = field(default_factory=list)
    aspects: list[AspectRow] = field(default_factory=list)
    original_text: str = ""  # free text: the response as written, to detect and undo edits
    edit_text: str = ""  # free text: what the edit box holds (the original until the annotator edits)


def task_form(
    kind: str,
    raw_config: Mapping[str, Any],
    responses: Sequence[ShownResponse],
    *,
    values: Any = None,
    errors: Sequence[FieldError] = (),
) -> TaskForm:
    config = config_parse(kind, raw_config)
    given: Mapping[str, Any] = values if isinstance(values, Mapping) else {}
    by_field: dict[str, list[str]] = {}
    for error in errors:
        by_field.setdefault(_field_key(error.field), []).append(error.message)
    common: dict[str, Any] = {
        "kind": kind,
        "config": config,
        "errors": by_field,
        "all_errors": [_describe(e, config) for e in errors],
        "values": given,
    }
    if kind == PAIRWISE:
        choice = given.get("outcome", "")
        if choice == "preferred":
            choice = str(given.get("preferred", ""))
        strengths = [(STRENGTH_KEYS[n], label, n + 1) for n, label in enumerate(config.strengths)]
        return TaskForm(**common, choice=str(choice), strengths=strengths)
    if kind == RANKING:
        return TaskForm(**common, ranks=_rank_rows(responses, given.get("ranking")))
    if kind == RATING:
        return TaskForm(**common, aspects=_aspect_rows(config.aspects, given.get("ratings"), by_field))
    text = responses[0].text if responses else ""
    edited = given.get("edited_text")
    return TaskForm(**common, original_text=text, edit_text=edited if isinstance(edited, str) else text)


def _field_key(name: str) -> str:
    # "ratings.helpfulness.score" -> "helpfulness"; "strength" -> "strength".
    parts = name.split(".")
    return parts[1] if parts[0] == "ratings" and len(parts) > 1 else parts[0]


def _describe(error: FieldError, config: Any) -> str:
    key = _field_key(error.field)
    aspects = {a.name: a.label for a in getattr(config, "aspects", [])}
    label = aspects.get(key) or _FIELD_LABELS.get(key, key.replace("_", " ").capitalize())
    return f"{label}: {error.message}" if label else error.message


def _rank_rows(responses: Sequence[ShownResponse], ranking: Any) -> list[RankRow]:
    by_id = {r.id: r for r in responses}
    tiers: list[list[ShownResponse]] = []
    try:
        seen: set[int] = set()
        for tier in ranking:
            tiers.append([by_id[int(i)] for i in tier])
            seen.update(int(i) for i in tier)
        if seen != set(by_id) or any(not tier for tier in tiers):
            raise ValueError("not a full ranking")
    except (TypeError, ValueError, KeyError):
        tiers = [[r] for r in responses]  # nothing (usable) posted: the order shown
    rows: list[RankRow] = []
    for rank, tier in enumerate(tiers, start=1):
        for n, response in enumerate(tier):
            rows.append(RankRow(response=response, position=len(rows) + 1, rank=rank, tied=n > 0))
    return rows


def _aspect_rows(aspects: Sequence[Aspect], ratings: Any, errors: Mapping[str, list[str]]) -> list[AspectRow]:
    given: Mapping[str, Any] = ratings if isinstance(ratings, Mapping) else {}
    rows = []
    for aspect in aspects:
        entry = given.get(aspect.name)
        entry = entry if isinstance(entry, Mapping) else {}
        rows.append(
            AspectRow(
                aspect=aspect,
                points=list(range(aspect.min, aspect.max + 1)),
                digits_are_values=aspect.min >= 0 and aspect.max <= 9,
                score=entry.get("score"),
                comment=str(entry.get("comment", "")),
                errors=errors.get(aspect.name, []),
            )
        )
    return rows
