"""The annotation queue: leases that are exact under concurrency.

Invariant for every item, kept under row locks in short transactions:
``open_slots == required - active leases - submitted_count``. Nobody holds two leases on one item
(unique constraint), an annotator holds at most one active lease per project (their membership
row is locked while claiming, so a double-click cannot take two items), and every lease that ends
without a judgment (expired, skipped, flagged) gives its slot back exactly once: the status change
``active -> X`` is made by a conditional UPDATE that only one transaction can win.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, Item, ItemResponse, Judgment
from annotation.schemas import FieldError, SchemaError, gold_matches, payload_validate
from annotation.suggestions import suggestion_recorded
from core.models import Membership, Project, Role, User
from curation.models_quality import ProjectQuality

ANNOTATING_ROLES = (Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN)
EXPIRED_MESSAGE = (
    "Your time on this item ran out and it went back to the queue, so this answer was not recorded. "
    "Open the queue for your next item."
)


class ClaimReason(Enum):
    NEW = "new"
    RESUMED = "resumed"  # the annotator already held a live lease in this project
    EMPTY = "empty"  # nothing left that this annotator may take


@dataclass(frozen=True)
class ClaimResult:
    assignment: Assignment | None
    reason: ClaimReason


class QueueError(Exception):
    """A refusal that is shown to the annotator as it is: say what happened and what to do."""

    code = "queue_error"


class NotAMember(QueueError):
    code = "not_a_member"


class LeaseNotFound(QueueError):
    code = "lease_not_found"


class LeaseExpired(QueueError):
    code = "lease_expired"


class LeaseClosed(QueueError):
    code = "lease_closed"


class InvalidPayload(QueueError):
    code = "invalid_payload"

    def __init__(self, error: SchemaError) -> None:
        self.errors = error.errors
        super().__init__(str(error))


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    duplicate: bool  # True when this client key had already been recorded: nothing new was written


def _lock_membership(*, annotator: User, project: Project) -> None:
    """Serialise one annotator's queue operations in one project (SELECT ... FOR UPDATE)."""
    locked = (
        Membership.objects.select_for_update()
        .filter(user=annotator, project=project, role__in=[str(r) for r in ANNOTATING_ROLES])
        .values_list("pk", flat=True)
    )
    if not list(locked):
        raise NotAMember("You are not an annotator in this project.")


def _end_lease(assignment_id: int, *, status: AssignmentStatus, reason: str = "", now: datetime) -> bool:
    """Move an active lease to ``status`` and give its slot back. False if it was no longer active."""
    changed = Assignment.objects.filter(pk=assignment_id, status=AssignmentStatus.ACTIVE).update(
        status=status, finished_at=now, reason=reason
    )
    if changed:
        item_id = Assignment.objects.filter(pk=assignment_id).values_list("item_id", flat=True).get()
        Item.objects.filter(pk=item_id).update(open_slots=F("open_slots") + 1)
    return bool(changed)


def leases_expire(*, project: Project | None = None, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire leases past their time and give the slots back. Safe to run concurrently (beat + claims)."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        stale = Assignment.objects.filter(status=AssignmentStatus.ACTIVE, expires_at__lte=now)
        if project is not None:
            stale = stale.filter(project=project)
        # SKIP LOCKED: a lease that another transaction is submitting or expiring right now is theirs.
        rows = list(stale.select_for_update(skip_locked=True).values_list("pk", "item_id")[:limit])
        if not rows:
            return 0
        ids = [pk for pk, _ in rows]
        expired = Assignment.objects.filter(pk__in=ids, status=AssignmentStatus.ACTIVE).update(
            status=AssignmentStatus.EXPIRED, finished_at=now
        )
        per_item = Assignment.objects.filter(pk__in=ids).values("item_id").annotate(n=Count("pk")).order_by("item_id")
        for row in per_item:
            Item.objects.filter(pk=row["item_id"]).update(open_slots=F("open_slots") + row["n"])
    return expired


# The lease on screen plus one pre-fetched behind it, so submit -> next shows without a round trip.
MAX_LIVE_LEASES = 2


def _live_leases(*, annotator: User, project: Project, now: datetime) -> list[Assignment]:
    return list(
        Assignment.objects.filter(
            project=project, annotator=annotator, status=AssignmentStatus.ACTIVE, expires_at__gt=now
        )
        .select_related("item")
        .order_by("created_at", "pk")
    )


def _first_open(items: QuerySet[Item]) -> Item | None:
    return items.order_by("-priority", "id").select_for_update(skip_locked=True, of=("self",)).first()


def _claim_new(*, annotator: User, project: Project, now: datetime, rng: random.Random | None) -> Assignment | None:
    """Inside the caller's transaction, with the membership locked: lease one new item or None.

    When the project manages its gold fraction (``curation.models.ProjectQuality.gold_fraction``), a
    claim serves gold with that probability, if a gold item is open to this annotator, and ordinary
    items otherwise; gold is then never served by priority alone. Unmanaged, gold items are served
    like any other item.
    """
    seen = Assignment.objects.filter(item_id=OuterRef("pk"), annotator=annotator)
    candidates = Item.objects.filter(project=project, open_slots__gt=0).filter(~Exists(seen))
    fraction = ProjectQuality.objects.filter(project=project).values_list("gold_fraction", flat=True).first()
    if fraction is None:
        item = _first_open(candidates)
    else:
        item = None
        if fraction > 0 and (rng or random.SystemRandom()).random() < fraction:
            item = _first_open(candidates.filter(is_gold=True))
        if item is None:
            item = _first_open(candidates.filter(is_gold=False))
    if item is None:
        return None
    order = list(ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", flat=True))
    if project.randomise_order:
        (rng or random.SystemRandom()).shuffle(order)
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        annotator=annotator,
        expires_at=now + timedelta(seconds=project.lease_ttl_seconds),
        display_order=order,
    )
    Item.objects.filter(pk=item.pk).update(open_slots=F("open_slots") - 1)
    item.open_slots -= 1
    assignment.item = item
    return assignment


def assignment_claim_next(*, annotator: User, project: Project, rng: random.Random | None = None) -> ClaimResult:
    """The item this annotator should work on now: their oldest live lease, else a new one.

    Picks the highest-priority open item the annotator has never been assigned, in one short
    transaction: lock the annotator's membership, expire stale leases of the project, then
    ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent annotators never wait on each other's rows.
    """
    now = timezone.now()
    leases_expire(project=project, now=now, limit=100)
    with transaction.atomic():
        _lock_membership(annotator=annotator, project=project)
        live = _live_leases(annotator=annotator, project=project, now=now)
        if live:
            return ClaimResult(live[0], ClaimReason.RESUMED)
        assignment = _claim_new(annotator=annotator, project=project, now=now, rng=rng)
        return ClaimResult(assignment, ClaimReason.NEW if assignment else ClaimReason.EMPTY)


def assignment_prefetch(
    *, annotator: User, project: Project, current_id: int, rng: random.Random | None = None
) -> ClaimResult:
    """The item to show after ``current_id``: a live lease other than it, else a new one.

    An annotator holds at most MAX_LIVE_LEASES live leases, so pre-fetching cannot hoard items.
    """
    now = timezone.now()
    with transaction.atomic():
        _lock_membership(annotator=annotator, project=project)
        live = _live_leases(annotator=annotator, project=project, now=now)
        others = [a for a in live if a.pk != current_id]
        if others:
            return ClaimResult(others[0], ClaimReason.RESUMED)
        if len(live) >= MAX_LIVE_LEASES:
            return ClaimResult(None, ClaimReason.EMPTY)
        assignment = _claim_new(annotator=annotator, project=project, now=now, rng=rng)
        return ClaimResult(assignment, ClaimReason.NEW if assignment else ClaimReason.EMPTY)


def _own_assignment(*, annotator: User, project: Project, assignment_id: int) -> Assignment:
    # of=("self",): lock only the lease. Without it the joined project row is locked FOR UPDATE
    # too, and every concurrent insert's foreign-key check on that project waits (deadlocks seen).
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .filter(pk=assignment_id, project=project)
        .select_related("item", "project")
        .first()
    )
    if assignment is None or assignment.annotator_id != annotator.pk:
        # Someone else's lease looks exactly like a missing one: ids are not an oracle.
        raise LeaseNotFound("This task is not assigned to you. Open the queue to get your next item.")
    return assignment


def judgment_submit(
    *,
    annotator: User,
    project: Project,
    assignment_id: int,
    payload: Any,
    client_key: str,
    time_spent_ms: int,
    suggestion_checkpoint: int | None = None,
) -> SubmitResult:
    """Record one judgment for a live lease. Idempotent per (annotator, client_key).

    ``suggestion_checkpoint``: the reward model whose answer the page pre-selected, if any; the judgment
    then records that suggestion (``annotation.suggestions``).

    Refused with LeaseExpired when the lease ran out (its slot goes back to the queue), LeaseClosed
    when it was already submitted, skipped or flagged, InvalidPayload when the payload does not fit
    the project's schema. A resend with the same client key returns the first judgment.
    """
    client_key = client_key.strip()[:64]
    if not client_key:
        raise InvalidPayload(SchemaError([FieldError("client_key", "missing; reload the page and try again")]))
    now = timezone.now()
    outcome = _submit_in_transaction(
        annotator=annotator,
        project=project,
        assignment_id=assignment_id,
        payload=payload,
        client_key=client_key,
        time_spent_ms=time_spent_ms,
        now=now,
        suggestion_checkpoint=suggestion_checkpoint,
    )
    # Raised only after commit, so an expired lease's slot is given back even though we refuse.
    if isinstance(outcome, QueueError):
        raise outcome
    return outcome


def _submit_in_transaction(
    *,
    annotator: User,
    project: Project,
    assignment_id: int,
    payload: Any,
    client_key: str,
    time_spent_ms: int,
    now: datetime,
    suggestion_checkpoint: int | None = None,
) -> SubmitResult | QueueError:
    with transaction.atomic():
        assignment = _own_assignment(annotator=annotator, project=project, assignment_id=assignment_id)
        # Checked after the lock: a double-click's second request waits here, then finds the first.
        previous = Judgment.objects.filter(annotator=annotator, client_key=client_key).first()
        if previous is not None:
            return SubmitResult(previous, duplicate=True)
        if assignment.status == AssignmentStatus.ACTIVE and assignment.expires_at <= now:
            _end_lease(assignment.pk, status=AssignmentStatus.EXPIRED, now=now)
            return LeaseExpired(EXPIRED_MESSAGE)
        if assignment.status == AssignmentStatus.EXPIRED:
            return LeaseExpired(EXPIRED_MESSAGE)
        if assignment.status != AssignmentStatus.ACTIVE:
            return LeaseClosed(f"This item was already {assignment.get_status_display().lower()}.")

        item = assignment.item
        rows = list(
            ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", "response__text")
        )
        try:
            canonical = payload_validate(
                project.task_kind,
                project.task_config,
                payload,
                response_ids=[r for r, _ in rows],
                original_texts=[t for _, t in rows],
            )
        except SchemaError as exc:
            return InvalidPayload(exc)
        try:
            with transaction.atomic():
                judgment = Judgment.objects.create(
                    project=project,
                    item=item,
                    assignment=assignment,
                    annotator=annotator,
                    kind=project.task_kind,
                    payload=canonical,
                    display_order=assignment.display_order,
                    time_spent_ms=max(0, min(int(time_spent_ms), 86_400_000)),
                    client_key=client_key,
                    gold_correct=gold_matches(project.task_kind, canonical, item.gold_answer) if item.is_gold else None,
                    suggestion_shown=suggestion_recorded(item=item, checkpoint_id=suggestion_checkpoint),
                )
        except IntegrityError:
            # The same key was used for another lease: the first answer stands.
            return SubmitResult(Judgment.objects.get(annotator=annotator, client_key=client_key), duplicate=True)
        Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.SUBMITTED, finished_at=now)
        Item.objects.filter(pk=item.pk).update(submitted_count=F("submitted_count") + 1)
        return SubmitResult(judgment, duplicate=False)


def assignment_release(
    *, annotator: User, project: Project, assignment_id: int, status: AssignmentStatus, reason: str
) -> Assignment:
    """Skip or flag: end the lease, record why, give the slot back. The item is not offered again."""
    if status not in (AssignmentStatus.SKIPPED, AssignmentStatus.FLAGGED):
        raise ValueError(f"cannot release a lease as {status}")
    now = timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(annotator=annotator, project=project, assignment_id=assignment_id)
        if not _end_lease(assignment.pk, status=status, reason=reason.strip()[:2000], now=now):
            raise LeaseClosed(f"This item was already {assignment.get_status_display().lower()}.")
        assignment.refresh_from_db()
        return assignment
