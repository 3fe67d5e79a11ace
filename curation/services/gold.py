"""Gold items (known answers that test annotators) and how much gold the queue serves. Admins only.

Marking an item gold edits the item (items are not append-only; judgments are). Gold accuracy is
computed from the *current* gold answer (``curation.stats.reliability``), so correcting a wrong answer
re-grades past judgments without touching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from annotation.models import Item, ItemResponse
from annotation.schemas import FieldError, SchemaError
from core.models import Membership, Project, Role, User
from curation.answers import answer_check
from curation.models_quality import MAX_GOLD_FRACTION, ProjectQuality
from curation.services.quality import project_quality_row, quality_mark_dirty


def gold_may(*, user: User, project: Project) -> bool:
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, project=project, role=Role.ADMIN).exists()


def _check_admin(user: User, project: Project) -> None:
    if not gold_may(user=user, project=project):
        raise PermissionDenied("Only admins of this project manage gold.")


def _item(project: Project, item_id: int) -> Item:
    item = Item.objects.filter(project=project, pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    return item


def gold_mark(*, user: User, project: Project, item_id: int, answer: Mapping[str, Any]) -> Item:
    """Make an item gold with ``answer`` (or change its answer). SchemaError when the answer does not
    fit the project's task kind; free-text projects have no gold."""
    _check_admin(user, project)
    item = _item(project, item_id)
    ids = list(ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", flat=True))
    clean = answer_check(project.task_kind, project.task_config, answer, response_ids=ids, gold=True)
    with transaction.atomic():
        Item.objects.filter(pk=item.pk).update(is_gold=True, gold_answer=clean)
        quality_mark_dirty(project=project)
    item.refresh_from_db()
    return item


def gold_unmark(*, user: User, project: Project, item_id: int) -> Item:
    """The item is ordinary data again; its judgments stop counting as gold checks."""
    _check_admin(user, project)
    item = _item(project, item_id)
    with transaction.atomic():
        Item.objects.filter(pk=item.pk).update(is_gold=False, gold_answer=None)
        quality_mark_dirty(project=project)
    item.refresh_from_db()
    return item


def gold_fraction_set(*, user: User, project: Project, fraction: float | None) -> ProjectQuality:
    """Serve gold on this share of claims (0 to 0.5), or None to serve gold like any other item."""
    _check_admin(user, project)
    if fraction is not None and not 0.0 <= fraction <= MAX_GOLD_FRACTION:
        raise SchemaError([FieldError("gold_fraction", f"a share from 0 to {MAX_GOLD_FRACTION}")])
    project_quality_row(project_id=project.pk)
    ProjectQuality.objects.filter(project=project).update(gold_fraction=fraction, gold_updated_at=timezone.now())
    return ProjectQuality.objects.get(project=project)
