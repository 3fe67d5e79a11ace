"""Reads for dataset snapshots: the judgments a filter spec selects, streamed as plain records."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.http import Http404

from annotation.models import ItemResponse, Judgment, Prompt
from core.models import Membership, Project
from curation.exporters.options import SnapshotFilters
from curation.exporters.records import JudgmentRecord, Message, ResponseRecord
from curation.exporters.trl import needs_conversational
from curation.models import MANIFEST_NAME, DatasetSnapshot, SnapshotStatus
from curation.models_quality import AnnotatorReliability, ItemAgreement
from curation.selectors_quality import without_rejected

EXPORT_CHUNK = 2000  # rows a fetch (one per judgment and response of its item)


def snapshot_list(*, project: Project) -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")


def snapshot_get(*, project: Project, snapshot_id: int) -> DatasetSnapshot:
    """The snapshot if it belongs to ``project``, else Http404: another project's id looks like a missing one."""
    snapshot = DatasetSnapshot.objects.filter(project=project, pk=snapshot_id).select_related("created_by").first()
    if snapshot is None:
        raise Http404("No such snapshot.")
    return snapshot


def member_ids(*, project: Project, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` that are members of ``project`` (any role)."""
    return set(Membership.objects.filter(project=project, user_id__in=list(user_ids)).values_list("user_id", flat=True))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def judgments_for_export(*, project: Project, filters: SnapshotFilters) -> QuerySet[Judgment]:
    """The project's judgments that ``filters`` select, ordered by prompt (the exporters' precondition).

    Each filter maps to one clause here and nowhere else: nothing the client sends becomes a lookup.
    Source and checkpoint filters keep a judgment when *any* response of its item matches, i.e.
    "judgments that involve a response from X" (a comparison of a checkpoint against anything).
    """
    judgments = Judgment.objects.filter(project=project)
    if filters.task_kinds:
        judgments = judgments.filter(kind__in=filters.task_kinds)
    if filters.created_from:
        judgments = judgments.filter(created_at__gte=_day_start(filters.created_from))
    if filters.created_to:
        # Whole days: a range ending on the 3rd keeps everything of the 3rd. Range on the column, not
        # __date, so the (project, created_at) index is used.
        judgments = judgments.filter(created_at__lt=_day_start(filters.created_to) + timedelta(days=1))
    if filters.annotator_ids:
        judgments = judgments.filter(annotator_id__in=filters.annotator_ids)
    if not filters.include_gold:
        judgments = judgments.filter(item__is_gold=False)
    if filters.response_sources:
        matching = ItemResponse.objects.filter(
            item_id=OuterRef("item_id"), response__source__in=filters.response_sources
        )
        judgments = judgments.filter(Exists(matching))
    if filters.checkpoints:
        matching = ItemResponse.objects.filter(
            item_id=OuterRef("item_id"), response__source_detail__checkpoint__in=filters.checkpoints
        )
        judgments = judgments.filter(Exists(matching))
    if not filters.include_rejected:
        judgments = without_rejected(judgments)
    if filters.exclude_flagged_annotators:
        flagged = AnnotatorReliability.objects.filter(project=project, annotator=OuterRef("annotator_id"), flagged=True)
        judgments = judgments.filter(~Exists(flagged))
    if filters.min_agreement is not None:
        agreeing = ItemAgreement.objects.filter(item=OuterRef("item_id"), agreement__gte=filters.min_agreement)
        judgments = judgments.filter(Exists(agreeing))
    if filters.consensus_only:
        # Grouped by item within each prompt: the consensus is built per item (exporters.consensus).
        return judgments.order_by("item__prompt_id", "item_id", "created_at", "id")
    return judgments.order_by("item__prompt_id", "created_at", "id")


def _postgres(alias: str) -> bool:
    return connections[alias].vendor == "postgresql"


def _text(column: str) -> Cast:
    # JSON columns are read as text and decoded here, once per distinct value where values repeat
    # (a prompt's messages, a response's source detail): JSONField.from_db_value ran json.loads on
    # every column of every row, about a quarter of the export's time. Postgres: ``jsonb::text``;
    # SQLite stores JSON as text already.
    return Cast(column, TextField())


def prompts_need_conversational(*, judgments: QuerySet[Judgment]) -> bool:
    """Whether any prompt behind ``judgments`` has several messages or a system message.

    Postgres answers with one EXISTS query. Elsewhere (the embedded default runs on SQLite, which has
    no JSON array functions) the distinct prompts are streamed and checked in Python, stopping at the
    first one.
    """
    prompts = Prompt.objects.filter(pk__in=judgments.order_by().values("item__prompt_id"))
    if _postgres(prompts.db):
        # exporters.trl.needs_conversational: more than one message, or one whose role is not "user".
        counted = prompts.alias(
            turns=Func(F("messages"), function="jsonb_array_length", output_field=IntegerField()),
            first_role=KeyTextTransform("role", KeyTransform(0, "messages")),
        )
        single_not_user = Q(turns=1) & (Q(first_role__isnull=True) | ~Q(first_role="user"))
        return counted.filter(Q(turns__gt=1) | single_not_user).exists()
    texts = prompts.values_list(_text("messages"), flat=True)
    return any(needs_conversational(json.loads(text)) for text in texts.iterator(chunk_size=EXPORT_CHUNK))


def _timestamps_as_text(alias: str) -> bool:
    """Whether ``created_at`` may be read as text and parsed here: on Postgres with ISO dates and UTC.

    Django's timestamptz loader is Python code, and with one row per response it ran several times per
    judgment; ``datetime.fromisoformat`` of Postgres's ISO text is the same value (and isoformat) at a
    fraction of the cost. Any other setting (or backend) reads the column as a datetime.
    """
    if not _postgres(alias):
        return False
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT current_setting('DateStyle'), current_setting('TimeZone')")
        row = cursor.fetchone()
    return row is not None and str(row[0]).startswith("ISO") and row[1] == "UTC"


# One row per (judgment, response of its item): the item's responses come in the judgment's own query
# (LEFT JOIN, so an item without responses still gives its judgment one row) instead of a query per
# chunk of item ids, which cost more than everything else the selector does.
def _columns(*, timestamps_as_text: bool) -> tuple[str | Cast, ...]:
    return (
        "pk",
        "project_id",
        "kind",
        _text("payload"),
        "annotator_id",
        _text("display_order"),
        "time_spent_ms",
        _text("created_at") if timestamps_as_text else "created_at",
        "gold_correct",
        "item_id",
        "item__is_gold",
        "item__prompt_id",
        "item__prompt__content_hash",
        _text("item__prompt__messages"),
        "item__item_responses__response_id",
        "item__item_responses__position",
        "item__item_responses__response__text",
        "item__item_responses__response__source",
        _text("item__item_responses__response__source_detail"),
    )


_ITEM_CACHE = 10_000  # items whose responses are kept (within one prompt) before the cache starts over


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def judgment_records(*, judgments: QuerySet[Judgment], chunk_size: int = EXPORT_CHUNK) -> Iterator[JudgmentRecord]:
    """Stream ``judgments`` as plain records from one server-side cursor, ``chunk_size`` rows a fetch.
    Memory holds one fetch and one prompt's items, whatever the size of the export.

    Rows come as tuples (``values_list``), not model instances: building ORM objects cost about
    three quarters of the export time. The annotator is carried by id only; names and e-mails are
    never read. JSON columns are decoded once per prompt (its messages), per item (its responses) and
    per distinct source detail, not per row: the records of one prompt share one ``prompt_messages``
    tuple and those of one item one ``responses`` mapping (the exporters cache on that identity).
    Nothing downstream mutates them.
    """
    as_text = _timestamps_as_text(judgments.db)
    rows = judgments.values_list(*_columns(timestamps_as_text=as_text)).iterator(chunk_size=chunk_size)
    last_prompt: int | None = None
    messages: tuple[Message, ...] = ()
    items: dict[int, dict[int, ResponseRecord]] = {}
    details: dict[str | None, Mapping[str, Any]] = {}
    # Trap: groupby needs a judgment's rows adjacent; judgments_for_export's order ends with "id", so they are.
    for pk, group in groupby(rows, key=itemgetter(0)):
        (
            _,
            project_id,
            kind,
            payload,
            annotator_id,
            display_order,
            time_spent_ms,
            created_at,
            gold_correct,
            item_id,
            is_gold,
            prompt_id,
            prompt_hash,
            messages_text,
            *_,
        ) = first = next(group)
        if prompt_id != last_prompt:
            last_prompt, messages = prompt_id, tuple(json.loads(messages_text))
            items = {}
        responses = items.get(item_id)
        if responses is None:
            if len(items) >= _ITEM_CACHE:
                items = {}
            responses = items[item_id] = {}
            for *_, response_id, position, text, source, detail_text in chain((first,), group):
                if response_id is None:
                    continue  # the LEFT JOIN's row for an item without responses
                detail = details.get(detail_text)
                if detail is None:
                    if len(details) >= _ITEM_CACHE:  # one distinct detail per generated response: bound it
                        details = {}
                    detail = details[detail_text] = _loads(detail_text) or {}
                responses[response_id] = ResponseRecord(
                    id=response_id, text=text, source=source, source_detail=detail, position=position
                )
        yield JudgmentRecord(
            id=pk,
            project_id=project_id,
            kind=kind,
            payload=json.loads(payload),
            annotator_id=annotator_id,
            display_order=tuple(int(r) for r in _loads(display_order) or ()),
            time_spent_ms=time_spent_ms,
            created_at=datetime.fromisoformat(created_at) if as_text else created_at,
            item_id=item_id,
            is_gold=is_gold,
            gold_correct=gold_correct,
            prompt_id=prompt_id,
            prompt_hash=prompt_hash,
            prompt_messages=messages,
            responses=responses,
        )


def snapshot_file_path(*, snapshot: DatasetSnapshot, name: str) -> Path:
    """The stored file ``name`` of a succeeded snapshot, or Http404.

    Only names the snapshot recorded are served, and the resolved path (symlinks followed) must lie
    inside the snapshot's folder, compared with commonpath: a prefix test would let
    ``snapshots/1/10`` pass for ``snapshots/1/1``.
    """
    if snapshot.status != SnapshotStatus.SUCCEEDED:
        raise Http404("This snapshot has no files.")
    known = {str(entry["name"]) for entry in snapshot.files} | {MANIFEST_NAME}
    if name not in known:
        raise Http404("No such file.")
    root = os.path.realpath(settings.MEDIA_ROOT)
    expected = os.path.normpath(os.path.join(root, snapshot.folder))
    folder = os.path.realpath(expected)
    path = os.path.realpath(os.path.join(folder, name))
    # folder != expected: the snapshot's folder (or a parent inside MEDIA_ROOT) was replaced by a
    # symlink, possibly to another snapshot's folder; serve nothing rather than someone else's files.
    if folder != expected or os.path.commonpath([root, folder]) != root or os.path.commonpath([folder, path]) != folder:
        raise Http404("No such file.")
    if not os.path.isfile(path):
        raise Http404("No such file.")
    return Path(path)


def member_choices(*, project: Project) -> list[tuple[int, str]]:
    """Members of ``project`` as (user id, "name (role)") for the annotator filter, by role then name."""
    rows = (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("role", "user__username")
        .values_list("user_id", "user__username", "user__display_name", "role")
    )
    return [(user_id, f"{display or username} ({role})") for user_id, username, display, role in rows]
