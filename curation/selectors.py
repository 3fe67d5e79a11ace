"""Reads for dataset snapshots: the judgments a filter spec selects, streamed as plain records."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from annotation.models import ItemResponse, Judgment, Prompt
from core.models import Membership, Project
from curation.exporters.options import SnapshotFilters
from curation.exporters.records import JudgmentRecord, ResponseRecord
from curation.exporters.trl import needs_conversational
from curation.models import MANIFEST_NAME, DatasetSnapshot, SnapshotStatus
from curation.models_quality import AnnotatorReliability, ItemAgreement
from curation.selectors_quality import without_rejected

EXPORT_CHUNK = 500


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


def prompts_need_conversational(*, judgments: QuerySet[Judgment]) -> bool:
    """Whether any prompt behind ``judgments`` has several messages or a system message.

    Streams the distinct prompts and stops at the first one; done in Python because the embedded
    default runs on SQLite, where Postgres's JSON array functions do not exist.
    """
    prompts = Prompt.objects.filter(pk__in=judgments.order_by().values("item__prompt_id")).values_list(
        "messages", flat=True
    )
    return any(needs_conversational(messages) for messages in prompts.iterator(chunk_size=EXPORT_CHUNK))


_JUDGMENT_COLUMNS = (
    "pk",
    "project_id",
    "kind",
    "payload",
    "annotator_id",
    "display_order",
    "time_spent_ms",
    "created_at",
    "gold_correct",
    "item_id",
    "item__is_gold",
    "item__prompt_id",
    "item__prompt__content_hash",
    "item__prompt__messages",
)
_RESPONSE_COLUMNS = (
    "item_id",
    "response_id",
    "position",
    "response__text",
    "response__source",
    "response__source_detail",
)


def judgment_records(*, judgments: QuerySet[Judgment], chunk_size: int = EXPORT_CHUNK) -> Iterator[JudgmentRecord]:
    """Stream ``judgments`` as plain records: one server-side cursor, plus one query per chunk for the
    responses of that chunk's items. Memory holds one chunk, whatever the size of the export.

    Rows come as tuples (``values_list``), not model instances: building ORM objects cost about
    three quarters of the export time. The annotator is carried by id only; names and e-mails are
    never read.
    """
    rows = judgments.values_list(*_JUDGMENT_COLUMNS).iterator(chunk_size=chunk_size)
    while chunk := list(islice(rows, chunk_size)):
        responses: dict[int, dict[int, ResponseRecord]] = {}
        links = ItemResponse.objects.filter(item_id__in={row[9] for row in chunk}).values_list(*_RESPONSE_COLUMNS)
        for item_id, response_id, position, text, source, detail in links:
            responses.setdefault(item_id, {})[response_id] = ResponseRecord(
                id=response_id, text=text, source=source, source_detail=detail or {}, position=position
            )
        for (
            pk,
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
            messages,
        ) in chunk:
            yield JudgmentRecord(
                id=pk,
                project_id=project_id,
                kind=kind,
                payload=payload,
                annotator_id=annotator_id,
                display_order=tuple(int(r) for r in display_order or ()),
                time_spent_ms=time_spent_ms,
                created_at=created_at,
                item_id=item_id,
                is_gold=is_gold,
                gold_correct=gold_correct,
                prompt_id=prompt_id,
                prompt_hash=prompt_hash,
                prompt_messages=tuple(messages),
                responses=responses.get(item_id, {}),
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
