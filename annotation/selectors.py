"""Reads for the annotation pages. Everything is scoped by a project the caller already resolved."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, Item, ItemResponse
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


@dataclass(frozen=True)
class Progress:
    done: int  # judgments this annotator submitted in the project
    remaining: int  # items still open that this annotator has not been assigned
    total: int  # items in the project


@dataclass(frozen=True)
class ItemCounts:
    total: int
    untouched: int
    in_progress: int
    complete: int
    judgments: int
    active_leases: int


def assignment_view(*, assignment: Assignment) -> AssignmentView:
    """What an annotator sees: the conversation and the responses in their own shown order."""
    project = assignment.project
    rows = {
        r.response_id: r.response
        for r in ItemResponse.objects.filter(item_id=assignment.item_id).select_related("response")
    }
    responses = [
        ShownResponse(
            id=rid,
            label=chr(ord("A") + n),
            text=rows[rid].text,
            source=None if project.blind_sources else rows[rid].get_source_display(),
        )
        for n, rid in enumerate(assignment.display_order)
    ]
    prompt = Item.objects.select_related("prompt").get(pk=assignment.item_id).prompt
    left = int((assignment.expires_at - timezone.now()).total_seconds())
    return AssignmentView(
        assignment=assignment, messages=list(prompt.messages), responses=responses, seconds_left=max(0, left)
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


def annotator_progress(*, annotator: User, project: Project) -> Progress:
    done = Assignment.objects.filter(project=project, annotator=annotator, status=AssignmentStatus.SUBMITTED).count()
    seen = Assignment.objects.filter(project=project, annotator=annotator).values("item_id")
    remaining = Item.objects.filter(project=project, open_slots__gt=0).exclude(pk__in=seen).count()
    total = Item.objects.filter(project=project).count()
    return Progress(done=done, remaining=remaining, total=total)


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
