"""The annotation queue: leases that are exact under concurrency.

Invariant for every item, kept under row locks in short transactions:
``open_slots == required - active leases - submitted_count``. Nobody holds two leases on one item
(unique constraint), an annotator holds at most one active lease per project (their membership
row is locked while claiming, so a double-click cannot take two items), and every lease that ends
without a judgment (expired, skipped, flagged) gives its slot back exactly once: the status change
``active -> X`` is made by a conditional UPDATE that only one transaction can win.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, Item, Judgment
from annotation.schemas import FieldError, SchemaError, gold_matches, payload_validate
from annotation.selectors import ResponseRow, item_response_rows_and_messages
from annotation.suggestions import suggestion_recorded
from core.db import columns, model_from_row
from core.models import Project, Role, User

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
    # The item's responses and the prompt's conversation when a new lease was just taken (read for its
    # display order): the page shows them without reading them again. Empty / None for a resumed lease.
    responses: list[ResponseRow] = field(default_factory=list)
    messages: list[dict[str, str]] | None = None


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


# The hot path (claim, submit) speaks SQL through the cursor: building and compiling an ORM query costs
# ~0.4 ms of CPU per statement on a 2-core machine, the cursor ~0.07 ms (BENCHMARKS.md, section 1).
# Only constant fragments are ever joined into these statements; every value is a parameter.
# SQLite (the embedded default) has no row locks: it serialises writers with BEGIN IMMEDIATE.


def _row_locks() -> bool:
    return bool(connection.features.has_select_for_update_skip_locked)


def _write_together(first: str, first_params: list[Any], *others: tuple[str, list[Any]]) -> Any:
    """Run ``first`` (an INSERT ... RETURNING id) and ``others`` (UPDATEs); return the inserted id.

    On Postgres all of them are one statement, one round trip (data-modifying CTEs, each run once whether
    or not the final SELECT reads it); SQLite has no such CTEs and runs them one after the other.
    Only constant SQL is joined here; every value is a parameter.
    """
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(first, first_params)
            (new_id,) = cursor.fetchone()
            for sql, params in others:
                cursor.execute(sql, params)
            return new_id
        parts = [f"w0 AS ({first})"] + [f"w{n} AS ({sql})" for n, (sql, _) in enumerate(others, 1)]
        params = first_params + [value for _, values in others for value in values]
        cursor.execute(f"WITH {', '.join(parts)} SELECT id FROM w0", params)  # noqa: S608  # nosec: constants
        (new_id,) = cursor.fetchone()
        return new_id


_INSERT_LEASE = (
    "INSERT INTO annotation_assignment"
    " (project_id, item_id, annotator_id, status, created_at, expires_at, display_order, reason)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_TAKE_SLOT = "UPDATE annotation_item SET open_slots = open_slots - 1 WHERE id = %s"
_CLOSE_LEASE = "UPDATE annotation_assignment SET status = %s, finished_at = %s WHERE id = %s"
_COUNT_JUDGMENT = "UPDATE annotation_item SET submitted_count = submitted_count + 1 WHERE id = %s"


def _when(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


_MEMBERSHIP_SQL = (
    "SELECT m.id, q.gold_fraction, {stale} FROM core_membership m"
    " LEFT JOIN curation_projectquality q ON q.project_id = m.project_id"
    " WHERE m.user_id = %s AND m.project_id = %s AND m.role IN (%s, %s, %s)"
)
# 'active' is written into these statements, not passed: a generic plan of a prepared statement can use
# the partial indexes on status = 'active' only when the statement says so itself. With the status as a
# parameter, the stale probe's generic plan scanned every lease of the project (29 ms at 300k leases,
# against 0.02 ms through assignment_active_expiry). Plans are forced custom today (config/settings/base.py).
assert AssignmentStatus.ACTIVE.value == "active"
_STALE_SQL = "SELECT 1 FROM annotation_assignment WHERE project_id = %s AND status = 'active' AND expires_at <= %s"


def _lock_membership(
    *, annotator: User, project: Project, stale_before: datetime | None = None
) -> tuple[float | None, bool]:
    """Serialise one annotator's queue operations in one project (SELECT ... FOR UPDATE).

    Returns the project's managed gold fraction (``ProjectQuality.gold_fraction``, None when
    unmanaged) and, when ``stale_before`` is given, whether the project has active leases that expired by
    then: both read in the same statement (one round trip for what used to take two on every claim).
    """
    stale = "false" if stale_before is None else f"EXISTS ({_STALE_SQL})"
    sql = _MEMBERSHIP_SQL.format(stale=stale) + (" FOR UPDATE OF m" if _row_locks() else "")
    params: list[Any] = [] if stale_before is None else [project.pk, _when(stale_before)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, annotator.pk, project.pk, *[str(r) for r in ANNOTATING_ROLES]])
        row = cursor.fetchone()
    if row is None:
        raise NotAMember("You are not an annotator in this project.")
    fraction: float | None = row[1]
    return fraction, bool(row[2])


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
        # SKIP LOCKED: a lease that another transaction is submitting or expiring right now is theirs.
        sql = "SELECT id, item_id FROM annotation_assignment WHERE status = 'active' AND expires_at <= %s"
        params: list[Any] = [_when(now)]
        if project is not None:
            sql += " AND project_id = %s"
            params.append(project.pk)
        sql += " LIMIT %s" + (" FOR UPDATE SKIP LOCKED" if _row_locks() else "")
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            rows = cursor.fetchall()
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
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM annotation_assignment WHERE project_id = %s AND annotator_id = %s"
            " AND status = 'active' AND expires_at > %s",
            [project.pk, annotator.pk, _when(now)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    if not ids:  # the usual case: the annotator submitted what they held
        return []
    return list(Assignment.objects.filter(pk__in=ids).select_related("item").order_by("created_at", "pk"))


_FIRST_OPEN_SQL = (
    "SELECT {columns} FROM annotation_item i WHERE i.project_id = %s AND i.open_slots > 0{gold}"
    " AND NOT EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.item_id = i.id AND a.annotator_id = %s)"
    " ORDER BY i.priority DESC, i.id LIMIT 1{lock}"
)


# Tried and reverted (4bc6dcb, 2026-12-06): the live-lease check, this SELECT and the item's responses read as
# one CTE statement (two round trips fewer). Planning it took ~3x as long (plans are forced custom, so every
# call plans) and the HTTP p95 at 1M items got worse, 17.6 ms against 13.7-14.6 (BENCHMARKS.md).
def _first_open(*, project: Project, annotator: User, gold: bool | None) -> Item | None:
    """The highest-priority open item this annotator never had, locked; None if there is none.

    Walks the partial index ``item_open_by_priority`` and stops at the first row it may lock (SKIP
    LOCKED: concurrent claimers never wait on each other). ``gold``: only gold / only ordinary items.
    """
    sql = _FIRST_OPEN_SQL.format(
        columns=columns(Item, "i"),
        gold="" if gold is None else " AND i.is_gold = %s",
        lock=" FOR UPDATE OF i SKIP LOCKED" if _row_locks() else "",
    )
    params: list[Any] = [project.pk] + ([] if gold is None else [gold]) + [annotator.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return model_from_row(Item, row) if row is not None else None


def _claim_new(
    *, annotator: User, project: Project, now: datetime, rng: random.Random | None, fraction: float | None
) -> tuple[Assignment | None, list[ResponseRow], list[dict[str, str]] | None]:
    """Inside the caller's transaction, with the membership locked: lease one new item or None.

    Returns the lease, the item's responses and the prompt's messages (read here once for the page).

    When the project manages its gold fraction (``fraction``, from ``ProjectQuality.gold_fraction``), a
    claim serves gold with that probability, if a gold item is open to this annotator, and ordinary
    items otherwise; gold is then never served by priority alone. Unmanaged, gold items are served
    like any other item.
    """
    if fraction is None:
        item = _first_open(project=project, annotator=annotator, gold=None)
    else:
        item = None
        if fraction > 0 and (rng or random.SystemRandom()).random() < fraction:
            item = _first_open(project=project, annotator=annotator, gold=True)
        if item is None:
            item = _first_open(project=project, annotator=annotator, gold=False)
    if item is None:
        return None, [], None
    responses, messages = item_response_rows_and_messages(item_id=item.pk, prompt_id=item.prompt_id)
    order = [row.id for row in responses]
    if project.randomise_order:
        (rng or random.SystemRandom()).shuffle(order)
    assignment = Assignment(
        project=project,
        item=item,
        annotator=annotator,
        status=AssignmentStatus.ACTIVE,
        created_at=now,
        expires_at=now + timedelta(seconds=project.lease_ttl_seconds),
        finished_at=None,
        display_order=order,
        reason="",
    )
    values = [
        project.pk,
        item.pk,
        annotator.pk,
        assignment.status,
        _when(assignment.created_at),
        _when(assignment.expires_at),
        Assignment._meta.get_field("display_order").get_db_prep_save(order, connection),
        "",
    ]
    assignment.pk = _write_together(_INSERT_LEASE, values, (_TAKE_SLOT, [item.pk]))
    item.open_slots -= 1
    assignment._state.adding = False  # a saved row from here on, as if the ORM had inserted it
    assignment._state.db = connection.alias
    return assignment, responses, messages


def assignment_claim_next(*, annotator: User, project: Project, rng: random.Random | None = None) -> ClaimResult:
    """The item this annotator should work on now: their oldest live lease, else a new one.

    Picks the highest-priority open item the annotator has never been assigned, in one short
    transaction: lock the annotator's membership, expire stale leases of the project, then
    ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent annotators never wait on each other's rows.
    """
    now = timezone.now()
    try:
        return _claim_next(annotator=annotator, project=project, rng=rng, now=now, probe=True)
    except _StaleLeases:
        return _claim_after_expiring(annotator=annotator, project=project, rng=rng, now=now)


def _claim_after_expiring(
    *, annotator: User, project: Project, rng: random.Random | None, now: datetime
) -> ClaimResult:
    """The claim again, once the project's expired leases are given back.

    They are given back before the claim, in their own short transaction: inside the claim's, the expired
    items' rows would stay locked until it commits, and other claimers' SKIP LOCKED would pass them by (an
    item then went unfilled in test_queue_concurrency.py). The claim's first statement found them and
    raised _StaleLeases having written nothing.
    """
    leases_expire(project=project, now=now, limit=100)
    return _claim_next(annotator=annotator, project=project, rng=rng, now=now, probe=False)


class _StaleLeases(Exception):
    """The project has leases past their time: expire them before claiming."""


def _claim_next(
    *, annotator: User, project: Project, rng: random.Random | None, now: datetime, probe: bool
) -> ClaimResult:
    with transaction.atomic():
        return _claim_in_transaction(annotator=annotator, project=project, rng=rng, now=now, probe=probe)


def _claim_in_transaction(
    *, annotator: User, project: Project, rng: random.Random | None, now: datetime, probe: bool
) -> ClaimResult:
    """The claim's statements, in the caller's transaction. No atomic block of its own: NotAMember and
    _StaleLeases are raised right after the first statement (the membership's lock, a read), before the
    claim writes anything, so a caller that catches them may still commit what it wrote before."""
    fraction, stale = _lock_membership(annotator=annotator, project=project, stale_before=now if probe else None)
    if stale:
        raise _StaleLeases
    live = _live_leases(annotator=annotator, project=project, now=now)
    if live:
        return ClaimResult(live[0], ClaimReason.RESUMED)
    assignment, responses, messages = _claim_new(
        annotator=annotator, project=project, now=now, rng=rng, fraction=fraction
    )
    return ClaimResult(assignment, ClaimReason.NEW if assignment else ClaimReason.EMPTY, responses, messages)


def assignment_prefetch(
    *, annotator: User, project: Project, current_id: int, rng: random.Random | None = None
) -> ClaimResult:
    """The item to show after ``current_id``: a live lease other than it, else a new one.

    An annotator holds at most MAX_LIVE_LEASES live leases, so pre-fetching cannot hoard items.
    """
    now = timezone.now()
    with transaction.atomic():
        fraction, _ = _lock_membership(annotator=annotator, project=project)
        live = _live_leases(annotator=annotator, project=project, now=now)
        others = [a for a in live if a.pk != current_id]
        if others:
            return ClaimResult(others[0], ClaimReason.RESUMED)
        if len(live) >= MAX_LIVE_LEASES:
            return ClaimResult(None, ClaimReason.EMPTY)
        assignment, responses, messages = _claim_new(
            annotator=annotator, project=project, now=now, rng=rng, fraction=fraction
        )
        return ClaimResult(assignment, ClaimReason.NEW if assignment else ClaimReason.EMPTY, responses, messages)


_LEASE_SQL = (
    "SELECT {assignment}, {item} FROM annotation_assignment a JOIN annotation_item i ON i.id = a.item_id"
    " WHERE a.id = %s AND a.project_id = %s"
)
# Lock only the lease: a lock on the project row would make every concurrent insert's foreign-key
# check on that project wait (deadlocks seen when the ORM joined the project FOR UPDATE).
_LEASE_LOCK = " FOR UPDATE OF a"


def _own_assignment(*, annotator: User, project: Project, assignment_id: int) -> Assignment:
    """The lease (locked) and its item, read in one statement."""
    sql = _LEASE_SQL.format(assignment=columns(Assignment, "a"), item=columns(Item, "i"))
    with connection.cursor() as cursor:
        cursor.execute(sql + (_LEASE_LOCK if _row_locks() else ""), [assignment_id, project.pk])
        row = cursor.fetchone()
    width = len(Assignment._meta.concrete_fields)
    assignment = model_from_row(Assignment, row[:width]) if row is not None else None
    if assignment is None or assignment.annotator_id != annotator.pk:
        # Someone else's lease looks exactly like a missing one: ids are not an oracle.
        raise LeaseNotFound("This task is not assigned to you. Open the queue to get your next item.")
    assignment.project = project  # the filter guarantees it; no second copy of the row is read
    assignment.item = model_from_row(Item, row[width:])
    return assignment


# Read after the lease's lock (a double-click's second request waits on it, then finds the first answer):
# the answer already recorded under this client key, if any, and the item's responses, in one statement.
# One row at least (the LEFT JOINs), so the first column answers even for an item without responses.
_SUBMIT_READ_SQL = (
    "SELECT (SELECT j.id FROM annotation_judgment j WHERE j.annotator_id = %s AND j.client_key = %s),"
    " ir.response_id, r.text, r.source FROM (SELECT 1 AS one) d"
    " LEFT JOIN annotation_itemresponse ir ON ir.item_id = %s"
    " LEFT JOIN annotation_response r ON r.id = ir.response_id ORDER BY ir.position"
)


@functools.cache
def _judgment_insert_sql() -> tuple[list[Any], str]:
    """The judgment's fields (all but the id) and its INSERT ... RETURNING id, built once."""
    fields = [f for f in Judgment._meta.concrete_fields if not f.primary_key]
    names = ", ".join(f'"{f.column}"' for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return fields, f"INSERT INTO annotation_judgment ({names}) VALUES ({placeholders}) RETURNING id"  # noqa: S608  # nosec: model's columns


def _judgment_insert(judgment: Judgment, *, assignment_id: int, item_id: int, now: datetime) -> None:
    """Insert ``judgment``, close its lease and count it on the item (one statement on Postgres).

    Values are prepared by each field as ``Model.save`` would (``pre_save`` sets ``created_at``).
    """
    fields, insert = _judgment_insert_sql()
    values = [f.get_db_prep_save(f.pre_save(judgment, True), connection) for f in fields]
    judgment.pk = _write_together(
        insert,
        values,
        (_CLOSE_LEASE, [AssignmentStatus.SUBMITTED.value, _when(now), assignment_id]),
        (_COUNT_JUDGMENT, [item_id]),
    )
    judgment._state.adding = False
    judgment._state.db = connection.alias


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
    submitted, _ = _submit(
        annotator=annotator,
        project=project,
        assignment_id=assignment_id,
        payload=payload,
        client_key=client_key,
        time_spent_ms=time_spent_ms,
        suggestion_checkpoint=suggestion_checkpoint,
        now=timezone.now(),
        then_claim=False,
    )
    return submitted


def judgment_submit_and_claim(
    *,
    annotator: User,
    project: Project,
    assignment_id: int,
    payload: Any,
    client_key: str,
    time_spent_ms: int,
    rng: random.Random | None = None,
) -> tuple[SubmitResult, ClaimResult | None]:
    """``judgment_submit`` then ``assignment_claim_next``, in one transaction: one BEGIN/COMMIT and one
    WAL flush per judgment instead of two (each a round trip that wakes an idle machine; BENCHMARKS.md).

    The answer is refused exactly as by ``judgment_submit`` (raised; nothing is claimed). The claim is
    None when it was refused (NotAMember: the membership changed); the answer is recorded all the same.
    A resend (same client key) returns the first judgment and the live lease, as a claim would.
    When the project has expired leases, the judgment commits first, the leases expire in their own
    transaction and the claim runs in a third, as ``assignment_claim_next`` does.
    """
    now = timezone.now()
    submitted, claim = _submit(
        annotator=annotator,
        project=project,
        assignment_id=assignment_id,
        payload=payload,
        client_key=client_key,
        time_spent_ms=time_spent_ms,
        now=now,
        then_claim=True,
        rng=rng,
    )
    if isinstance(claim, _StaleLeases):
        try:
            claim = _claim_after_expiring(annotator=annotator, project=project, rng=rng, now=now)
        except NotAMember:
            claim = None
    return submitted, claim if isinstance(claim, ClaimResult) else None


def _submit(
    *, client_key: str, then_claim: bool, **arguments: Any
) -> tuple[SubmitResult, ClaimResult | QueueError | _StaleLeases | None]:
    client_key = client_key.strip()[:64]
    if not client_key:
        raise InvalidPayload(SchemaError([FieldError("client_key", "missing; reload the page and try again")]))
    try:
        outcome, claim = _submit_in_transaction(client_key=client_key, then_claim=then_claim, **arguments)
    except IntegrityError:
        # The same key was committed for another of this annotator's leases between our check and
        # our INSERT (no savepoint guards the INSERT: it would cost two statements on every submit).
        # The transaction rolled back whole; the second attempt finds the first answer and returns it.
        outcome, claim = _submit_in_transaction(client_key=client_key, then_claim=then_claim, **arguments)
    # Raised only after commit, so an expired lease's slot is given back even though we refuse.
    if isinstance(outcome, QueueError):
        raise outcome
    return outcome, claim


def _submit_in_transaction(
    *, then_claim: bool, rng: random.Random | None = None, **arguments: Any
) -> tuple[SubmitResult | QueueError, ClaimResult | QueueError | _StaleLeases | None]:
    with transaction.atomic():
        outcome = _record(**arguments)
        if not then_claim or isinstance(outcome, QueueError):
            return outcome, None
        try:
            claim = _claim_in_transaction(
                annotator=arguments["annotator"],
                project=arguments["project"],
                rng=rng,
                now=arguments["now"],
                probe=True,
            )
        except (NotAMember, _StaleLeases) as exc:
            # Raised after the claim's first statement, a read: the judgment above still commits.
            return outcome, exc
        return outcome, claim


def _record(
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
    """The submit's statements, in the caller's transaction: the judgment, or the refusal to return."""
    assignment = _own_assignment(annotator=annotator, project=project, assignment_id=assignment_id)
    # Checked after the lock: a double-click's second request waits here, then finds the first.
    with connection.cursor() as cursor:
        cursor.execute(_SUBMIT_READ_SQL, [annotator.pk, client_key, assignment.item_id])
        found = cursor.fetchall()
    if found[0][0] is not None:
        return SubmitResult(Judgment.objects.get(pk=found[0][0]), duplicate=True)
    if assignment.status == AssignmentStatus.ACTIVE and assignment.expires_at <= now:
        _end_lease(assignment.pk, status=AssignmentStatus.EXPIRED, now=now)
        return LeaseExpired(EXPIRED_MESSAGE)
    if assignment.status == AssignmentStatus.EXPIRED:
        return LeaseExpired(EXPIRED_MESSAGE)
    if assignment.status != AssignmentStatus.ACTIVE:
        return LeaseClosed(f"This item was already {assignment.get_status_display().lower()}.")

    item = assignment.item
    rows = [ResponseRow(id=rid, text=text, source=source) for _, rid, text, source in found if rid is not None]
    try:
        canonical = payload_validate(
            project.task_kind,
            project.task_config,
            payload,
            response_ids=[r.id for r in rows],
            original_texts=[r.text for r in rows],
        )
    except SchemaError as exc:
        return InvalidPayload(exc)
    judgment = Judgment(
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
    _judgment_insert(judgment, assignment_id=assignment.pk, item_id=item.pk, now=now)
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
