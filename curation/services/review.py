"""Reviews of judgments and adjudications of items: append-only decisions by reviewers and admins.

A review never edits the judgment: it adds a row, and the latest row per judgment is its status
(``accept``, ``reject``, ``flag``). A rejected judgment stays in the raw record; snapshots leave it
out by default and the statistics stop counting it as evidence about its item. An adjudication
records the final answer for an item; the latest one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404

from annotation.models import Item, ItemResponse, Judgment
from annotation.schemas import FieldError, SchemaError
from core.models import Membership, Project, Role, User
from curation.answers import answer_check
from curation.models_quality import Adjudication, Review, ReviewDecision
from curation.services.quality import quality_mark_dirty

REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)
MAX_NOTE = 2000


def review_may(*, user: User, project: Project) -> bool:
    if user.is_superuser:
        return True
    roles = [str(r) for r in REVIEW_ROLES]
    return Membership.objects.filter(user=user, project=project, role__in=roles).exists()


def _check_reviewer(user: User, project: Project) -> None:
    if not review_may(user=user, project=project):
        raise PermissionDenied("Only reviewers and admins of this project review judgments.")


def review_record(*, reviewer: User, project: Project, judgment_id: int, decision: str, note: str = "") -> Review:
    """Record ``decision`` on a judgment of ``project``.

    Preconditions: ``reviewer`` is a reviewer or admin of the project (PermissionDenied), the judgment
    belongs to the project (Http404 otherwise: another project's id looks like a missing one), and it
    is not the reviewer's own (PermissionDenied: nobody grades their own work). SchemaError for an
    unknown decision or a note over 2,000 characters.
    """
    _check_reviewer(reviewer, project)
    if decision not in ReviewDecision.values:
        raise SchemaError([FieldError("decision", "choose accept, reject or flag")])
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise SchemaError([FieldError("note", f"at most {MAX_NOTE} characters")])
    judgment = Judgment.objects.filter(project=project, pk=judgment_id).first()
    if judgment is None:
        raise Http404("No such judgment.")
    if judgment.annotator_id == reviewer.pk:
        raise PermissionDenied("You cannot review your own judgment.")
    with transaction.atomic():
        review = Review.objects.create(
            project=project, judgment=judgment, reviewer=reviewer, decision=decision, note=note
        )
        quality_mark_dirty(project=project)
    return review


def adjudication_record(
    *, user: User, project: Project, item_id: int, answer: Mapping[str, Any], note: str = ""
) -> Adjudication:
    """Record the final answer for an item (same preconditions as ``review_record``; SchemaError when
    the answer does not fit the project's task kind, see ``curation.answers``)."""
    _check_reviewer(user, project)
    item = Item.objects.filter(project=project, pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise SchemaError([FieldError("note", f"at most {MAX_NOTE} characters")])
    ids = list(ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", flat=True))
    clean = answer_check(project.task_kind, project.task_config, answer, response_ids=ids, gold=False)
    with transaction.atomic():
        adjudication = Adjudication.objects.create(
            project=project, item=item, adjudicator=user, answer=clean, note=note
        )
        quality_mark_dirty(project=project)
    return adjudication
