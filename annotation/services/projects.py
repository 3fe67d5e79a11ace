"""Creating annotation projects and their items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from annotation.hashing import content_hash
from annotation.models import Item, ItemResponse, Prompt, Response, Source
from annotation.schemas import FieldError, SchemaError, config_validate, responses_per_item
from core.models import Project, User
from core.services import project_create


def annotation_project_create(
    *,
    name: str,
    created_by: User | None,
    task_kind: str,
    task_config: Mapping[str, Any] | None = None,
    overlap: int = 1,
    lease_ttl_seconds: int = 900,
    guidelines: str = "",
    description: str = "",
    blind_sources: bool = True,
    randomise_order: bool = True,
) -> Project:
    """A project of ``task_kind`` whose config is validated (SchemaError) before anything is written."""
    config = config_validate(task_kind, task_config)
    errors = []
    if not 1 <= overlap <= 50:
        errors.append(FieldError("overlap", "must be between 1 and 50"))
    if not 30 <= lease_ttl_seconds <= 7 * 24 * 3600:
        errors.append(FieldError("lease_ttl_seconds", "must be between 30 seconds and 7 days"))
    if not name.strip():
        errors.append(FieldError("name", "a project needs a name"))
    if errors:
        raise SchemaError(errors)
    with transaction.atomic():
        project = project_create(name=name.strip(), created_by=created_by, description=description)
        project.task_kind = task_kind
        project.task_config = config
        project.overlap = overlap
        project.lease_ttl_seconds = lease_ttl_seconds
        project.guidelines = guidelines
        project.blind_sources = blind_sources
        project.randomise_order = randomise_order
        project.save()
    return project


def _messages_check(messages: Any) -> list[dict[str, str]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or not messages:
        raise SchemaError([FieldError("prompt", "a prompt is a string or a non-empty list of messages")])
    clean = []
    for n, message in enumerate(messages):
        if (
            not isinstance(message, Mapping)
            or set(message) - {"role", "content"}
            or not {"role", "content"} <= set(message)
        ):
            raise SchemaError([FieldError(f"prompt[{n}]", "each message needs exactly 'role' and 'content'")])
        if message["role"] not in ("system", "user", "assistant") or not isinstance(message["content"], str):
            raise SchemaError([FieldError(f"prompt[{n}]", "role must be system, user or assistant; content a string")])
        clean.append({"role": str(message["role"]), "content": str(message["content"])})
    return clean


@transaction.atomic
def item_create(
    *,
    project: Project,
    prompt: Any,
    responses: Sequence[str],
    priority: float = 0.0,
    source: Source = Source.IMPORTED,
    source_detail: Mapping[str, Any] | None = None,
    is_gold: bool = False,
    gold_answer: Mapping[str, Any] | None = None,
) -> Item:
    """One item of the project's kind from a prompt (string or messages) and its responses.

    The same prompt or response text is stored once per project (content hash) and reused.
    """
    messages = _messages_check(prompt)
    wanted = responses_per_item(project.task_kind, project.task_config)
    if len(responses) != wanted:
        raise SchemaError([FieldError("responses", f"a {project.get_task_kind_display()} item needs {wanted}")])
    if len(set(responses)) != len(responses):
        raise SchemaError([FieldError("responses", "the responses of one item must differ")])
    prompt_row, _ = Prompt.objects.get_or_create(
        project=project, content_hash=content_hash(messages), defaults={"messages": messages, "source": source}
    )
    item = Item.objects.create(
        project=project,
        prompt=prompt_row,
        priority=priority,
        required=project.overlap,
        open_slots=project.overlap,
        is_gold=is_gold,
        gold_answer=dict(gold_answer) if gold_answer is not None else None,
    )
    for position, text in enumerate(responses):
        response, _ = Response.objects.get_or_create(
            prompt=prompt_row,
            content_hash=content_hash(text),
            defaults={"text": text, "source": source, "source_detail": dict(source_detail or {})},
        )
        ItemResponse.objects.create(item=item, response=response, position=position)
    return item
