"""Reads for the annotation pages. Everything is scoped by a project the caller already resolved."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, Item, Source
from core.models import Project, User


@dataclass(frozen=True)
class ShownResponse:
    id: int
    label: str  # "A", "B", ... in the order this annotator sees them
    text: str
    source: str | None  # None when the project blinds sources


@dataclass(frozen=True)
class AssignmentView:
    assignment: Assignment
    messages: list[dict[str, str]]
    responses: list[ShownResponse]
    seconds_left: int


# Counting an annotator's open items exactly is a scan of the whole project: ~110 ms at 1M items
# (bench/queue's database), paid on every task the annotate page renders. "Remaining" is exact up to
# this many and "1000+" beyond, which costs ~1 ms at any size (the claim's own index walk).
REMAINING_CAP = 1000


@dataclass(frozen=True)
class Progress:
    done: int  # judgments this annotator submitted in the project
    remaining: int  # items still open that this annotator has not been assigned, at most REMAINING_CAP
    remaining_more: bool  # more than REMAINING_CAP remain
    project_id: int

    @cached_property
    def total(self) -> int:
        """Items in the project; counted only where a page shows it (an index scan of the project)."""
        return Item.objects.filter(project_id=self.project_id).count()


@dataclass(frozen=True)
class ItemCounts:
    total: int
    untouched: int
    in_progress: int
    complete: int
    judgments: int
    active_leases: int


@dataclass(frozen=True)
class ResponseRow:
    id: int
    text: str
    source: str  # Source value


def item_response_rows(*, item_id: int) -> list[ResponseRow]:
    """The item's responses in position order. Plain SQL: it runs on every claim and every page.

    (An ORM query costs ~0.4 ms of CPU to build and compile here, a cursor ~0.07 ms; see BENCHMARKS.md.)
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ir.response_id, r.text, r.source FROM annotation_itemresponse ir"
            " JOIN annotation_response r ON r.id = ir.response_id WHERE ir.item_id = %s ORDER BY ir.position",
            [item_id],
        )
        return [ResponseRow(id=rid, text=text, source=source) for rid, text, source in cursor.fetchall()]


def prompt_messages(*, prompt_id: int) -> list[dict[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT messages FROM annotation_prompt WHERE id = %s", [prompt_id])
        (raw,) = cursor.fetchone()
    return _messages(raw)


def _messages(raw: Any) -> list[dict[str, str]]:
    # Django has psycopg hand jsonb over as text (JSONField decodes it); SQLite stores text anyway.
    messages: list[dict[str, str]] = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return messages


def item_response_rows_and_messages(*, item_id: int, prompt_id: int) -> tuple[list[ResponseRow], list[dict[str, str]]]:
    """``item_response_rows`` and ``prompt_messages`` in one statement (one round trip, for the claim).

    The prompt's row comes first (position -1) and carries the messages in the text column; a join would
    repeat a long conversation on every response's row.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT -1 AS position, NULL, CAST(messages AS TEXT), NULL FROM annotation_prompt WHERE id = %s"
            " UNION ALL SELECT ir.position, ir.response_id, r.text, r.source FROM annotation_itemresponse ir"
            " JOIN annotation_response r ON r.id = ir.response_id WHERE ir.item_id = %s ORDER BY 1",
            [prompt_id, item_id],
        )
        rows = cursor.fetchall()
    if not rows or rows[0][0] != -1:
        raise LookupError(f"prompt {prompt_id} does not exist")
    responses = [ResponseRow(id=rid, text=text, source=source) for _, rid, text, source in rows[1:]]
    return responses, _messages(rows[0][2])


def _source_label(value: str) -> str:
    return str(Source(value).label) if value in Source.values else value


def assignment_view(
    *,
    assignment: Assignment,
    responses: list[ResponseRow] | None = None,
    messages: list[dict[str, str]] | None = None,
) -> AssignmentView:
    """What an annotator sees: the conversation and the responses in their own shown order.

    ``responses`` and ``messages``: the item's rows and the prompt's conversation when the caller already
    read them (a claim does, for the order).
    """
    project = assignment.project
    rows = {r.id: r for r in (responses if responses is not None else item_response_rows(item_id=assignment.item_id))}
    shown = [
        ShownResponse(
            id=rid,
            label=chr(ord("A") + n),
            text=rows[rid].text,
            source=None if project.blind_sources else _source_label(rows[rid].source),
        )
        for n, rid in enumerate(assignment.display_order)
    ]
    left = int((assignment.expires_at - timezone.now()).total_seconds())
    return AssignmentView(
        assignment=assignment,
        messages=messages if messages is not None else prompt_messages(prompt_id=assignment.item.prompt_id),
        responses=shown,
        seconds_left=max(0, left),
    )


def assignment_get_for_annotator(*, annotator: User, project: Project, assignment_id: int) -> Assignment | None:
    """The annotator's own live lease in ``project`` with that id, else None (never someone else's)."""
    return (
        Assignment.objects.filter(
            pk=assignment_id, project=project, annotator=annotator, status=AssignmentStatus.ACTIVE
        )
        .select_related("project", "item")
        .first()
    )


def lease_is_live(*, annotator: User, project: Project, assignment_id: int) -> bool:
    """Whether the annotator still holds that lease in ``project``: active and not past its expiry."""
    return Assignment.objects.filter(
        pk=assignment_id,
        project=project,
        annotator=annotator,
        status=AssignmentStatus.ACTIVE,
        expires_at__gt=timezone.now(),
    ).exists()


def annotator_progress(*, annotator: User, project: Project) -> Progress:
    done = Assignment.objects.filter(project=project, annotator=annotator, status=AssignmentStatus.SUBMITTED).count()
    # The claim's walk (partial index item_open_by_priority, anti-join on the unique (item, annotator)
    # index), stopped after REMAINING_CAP + 1 rows: the ORDER BY is what makes Postgres take it.
    never_had = ~Exists(Assignment.objects.filter(item_id=OuterRef("pk"), annotator=annotator))
    open_to_them = Item.objects.filter(never_had, project=project, open_slots__gt=0).order_by("-priority", "pk")
    remaining = open_to_them[: REMAINING_CAP + 1].count()
    return Progress(
        done=done,
        remaining=min(remaining, REMAINING_CAP),
        remaining_more=remaining > REMAINING_CAP,
        project_id=project.pk,
    )


def item_counts(*, project: Project) -> ItemCounts:
    row = Item.objects.filter(project=project).aggregate(
        total=Count("pk"),
        untouched=Count("pk", filter=Q(submitted_count=0, open_slots=F("required"))),
        complete=Count("pk", filter=Q(submitted_count__gte=F("required"))),
    )
    judgments = Assignment.objects.filter(project=project, status=AssignmentStatus.SUBMITTED).count()
    active = Assignment.objects.filter(project=project, status=AssignmentStatus.ACTIVE).count()
    total, untouched, complete = int(row["total"]), int(row["untouched"]), int(row["complete"])
    return ItemCounts(
        total=total,
        untouched=untouched,
        in_progress=total - untouched - complete,
        complete=complete,
        judgments=judgments,
        active_leases=active,
    )
