"""Queue rules on real Postgres: priority, leases, expiry, idempotent submission, skip and flag."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import AppendOnlyError, Assignment, AssignmentStatus, Item, Judgment
from annotation.services.projects import item_create
from annotation.services.queue import (
    ClaimReason,
    InvalidPayload,
    LeaseClosed,
    LeaseExpired,
    LeaseNotFound,
    NotAMember,
    assignment_claim_next,
    assignment_release,
    judgment_submit,
    judgment_submit_and_claim,
    leases_expire,
)
from core.models import Membership, Role
from tests.factories import UserFactory, annotation_project

pytestmark = pytest.mark.django_db


def tie():
    return {"outcome": "tie"}


def submit(user, project, assignment, payload=None, key=None, ms=1200):
    return judgment_submit(
        annotator=user,
        project=project,
        assignment_id=assignment.pk,
        payload=payload or tie(),
        client_key=key or uuid.uuid4().hex,
        time_spent_ms=ms,
    )


def backdate(assignment):
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def slots(item):
    return Item.objects.values_list("open_slots", flat=True).get(pk=item.pk)


def test_claim_gives_the_highest_priority_item_and_takes_a_slot():
    project, [user] = annotation_project(items=3, overlap=2)
    result = assignment_claim_next(annotator=user, project=project)
    assert result.reason is ClaimReason.NEW
    assert result.assignment.item.priority == 2.0
    assert slots(result.assignment.item) == 1


def test_claim_skips_items_whose_slots_are_leased_by_others():
    project, [u1, u2] = annotation_project(items=2, overlap=1, annotators=2)
    first = assignment_claim_next(annotator=u1, project=project).assignment
    second = assignment_claim_next(annotator=u2, project=project).assignment
    assert first.item_id != second.item_id


def test_claim_resumes_a_live_lease_instead_of_taking_a_second_item():
    project, [user] = annotation_project(items=3)
    first = assignment_claim_next(annotator=user, project=project)
    again = assignment_claim_next(annotator=user, project=project)
    assert again.reason is ClaimReason.RESUMED
    assert again.assignment.pk == first.assignment.pk
    assert Assignment.objects.filter(annotator=user, status="active").count() == 1


def test_an_annotator_never_gets_the_same_item_twice():
    project, [user] = annotation_project(items=2, overlap=3)
    a = assignment_claim_next(annotator=user, project=project).assignment
    submit(user, project, a)
    b = assignment_claim_next(annotator=user, project=project).assignment
    assert b.item_id != a.item_id
    assignment_release(annotator=user, project=project, assignment_id=b.pk, status=AssignmentStatus.SKIPPED, reason="x")
    empty = assignment_claim_next(annotator=user, project=project)
    assert empty.reason is ClaimReason.EMPTY
    assert empty.assignment is None


def test_empty_queue_when_every_slot_is_taken():
    project, [u1, u2] = annotation_project(items=1, overlap=1, annotators=2)
    assignment_claim_next(annotator=u1, project=project)
    assert assignment_claim_next(annotator=u2, project=project).reason is ClaimReason.EMPTY


def test_expired_lease_gives_its_slot_back_at_claim_time():
    project, [u1, u2] = annotation_project(items=1, overlap=1, annotators=2)
    lease = assignment_claim_next(annotator=u1, project=project).assignment
    backdate(lease)
    taken = assignment_claim_next(annotator=u2, project=project)
    assert taken.reason is ClaimReason.NEW
    assert taken.assignment.item_id == lease.item_id
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.EXPIRED


def test_beat_expiry_gives_slots_back_exactly_once():
    project, [u1] = annotation_project(items=2, overlap=1)
    lease = assignment_claim_next(annotator=u1, project=project).assignment
    backdate(lease)
    assert leases_expire() == 1
    assert leases_expire() == 0
    assert slots(lease.item) == 1


def test_submit_records_payload_order_and_time():
    project, [user] = annotation_project(items=1)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    chosen = lease.display_order[1]
    result = submit(user, project, lease, {"outcome": "preferred", "preferred": chosen, "strength": "better"}, ms=4321)
    j = result.judgment
    assert not result.duplicate
    assert j.payload["preferred"] == chosen
    assert j.payload["strength_level"] == 2
    assert j.display_order == lease.display_order
    assert j.time_spent_ms == 4321
    assert j.kind == "pairwise"
    item = Item.objects.get(pk=lease.item_id)
    assert (item.submitted_count, item.open_slots) == (1, 0)
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.SUBMITTED


def test_submit_is_idempotent_per_client_key():
    project, [user] = annotation_project(items=1)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    first = submit(user, project, lease, key="k-1")
    second = submit(user, project, lease, key="k-1")
    assert second.duplicate
    assert second.judgment.pk == first.judgment.pk
    assert Judgment.objects.count() == 1
    assert Item.objects.get(pk=lease.item_id).submitted_count == 1


def test_second_submit_with_another_key_is_refused():
    project, [user] = annotation_project(items=1)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    submit(user, project, lease)
    with pytest.raises(LeaseClosed, match="already submitted"):
        submit(user, project, lease)


def test_submit_on_an_expired_lease_is_refused_politely_and_frees_the_slot():
    project, [user] = annotation_project(items=1)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    backdate(lease)
    with pytest.raises(LeaseExpired, match="ran out"):
        submit(user, project, lease)
    assert Judgment.objects.count() == 0
    assert slots(lease.item) == 1
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.EXPIRED


def test_submit_on_someone_elses_lease_looks_like_a_missing_one():
    project, [owner, thief] = annotation_project(items=1, annotators=2)
    lease = assignment_claim_next(annotator=owner, project=project).assignment
    with pytest.raises(LeaseNotFound):
        submit(thief, project, lease)
    other_project, _ = annotation_project(items=1)
    with pytest.raises(LeaseNotFound):
        submit(owner, other_project, lease)


def test_invalid_payload_is_refused_and_the_lease_stays_open():
    project, [user] = annotation_project(items=1)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    with pytest.raises(InvalidPayload) as info:
        submit(user, project, lease, {"outcome": "preferred", "preferred": lease.display_order[0]})
    assert [e.field for e in info.value.errors] == ["strength"]
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.ACTIVE
    submit(user, project, lease)


@pytest.mark.parametrize("status", [AssignmentStatus.SKIPPED, AssignmentStatus.FLAGGED])
def test_skip_and_flag_give_the_slot_back_and_record_why(status):
    project, [u1, u2] = annotation_project(items=1, annotators=2)
    lease = assignment_claim_next(annotator=u1, project=project).assignment
    released = assignment_release(
        annotator=u1, project=project, assignment_id=lease.pk, status=status, reason="off-topic"
    )
    assert (released.status, released.reason) == (status, "off-topic")
    assert slots(lease.item) == 1
    assert assignment_claim_next(annotator=u2, project=project).assignment.item_id == lease.item_id
    with pytest.raises(LeaseClosed):
        assignment_release(annotator=u1, project=project, assignment_id=lease.pk, status=status, reason="again")


def test_display_order_is_randomised_per_assignment_and_recorded():
    project, users = annotation_project(items=1, overlap=12, annotators=12)
    rng = random.Random(7)
    orders = {
        tuple(assignment_claim_next(annotator=u, project=project, rng=rng).assignment.display_order) for u in users
    }
    assert len(orders) == 2  # both left/right orders were shown


def test_order_is_kept_when_randomisation_is_off():
    project, [user] = annotation_project(items=1, randomise=False)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    assert lease.display_order == list(lease.item.item_responses.values_list("response_id", flat=True))


def test_gold_result_is_recorded():
    project, [u1, u2] = annotation_project(items=0, overlap=2, annotators=2)
    item = item_create(project=project, prompt="2+2?", responses=["4", "5"], is_gold=True)
    right, wrong = item.item_responses.values_list("response_id", flat=True)
    item.gold_answer = {"outcome": "preferred", "preferred": right}
    item.save()
    for user, choice in ((u1, right), (u2, wrong)):
        lease = assignment_claim_next(annotator=user, project=project).assignment
        submit(user, project, lease, {"outcome": "preferred", "preferred": choice, "strength": "better"})
    assert sorted(Judgment.objects.values_list("gold_correct", flat=True)) == [False, True]


def test_non_members_cannot_claim():
    project, _ = annotation_project(items=1)
    with pytest.raises(NotAMember):
        assignment_claim_next(annotator=UserFactory(), project=project)


def submit_and_claim(user, project, assignment, key=None):
    return judgment_submit_and_claim(
        annotator=user,
        project=project,
        assignment_id=assignment.pk,
        payload=tie(),
        client_key=key or uuid.uuid4().hex,
        time_spent_ms=900,
    )


def written_by(model, pk):
    """The id of the transaction that wrote this row (Postgres's xmin): equal ids, one transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # each atomic block commits: the rows' transactions are real ones
def test_submit_and_claim_records_the_answer_and_leases_the_next_item_in_one_transaction():
    project, [user] = annotation_project(items=3)
    first = assignment_claim_next(annotator=user, project=project).assignment
    submitted, claim = submit_and_claim(user, project, first)
    assert not submitted.duplicate
    assert claim.reason is ClaimReason.NEW
    assert claim.assignment.item_id != first.item_id
    assert [r.id for r in claim.responses]  # the page's content, read once
    assert claim.messages
    assert Assignment.objects.get(pk=first.pk).status == AssignmentStatus.SUBMITTED
    assert slots(claim.assignment.item) == 0
    assert written_by(Judgment, submitted.judgment.pk) == written_by(Assignment, claim.assignment.pk)


@pytest.mark.django_db(transaction=True)
def test_submit_and_claim_resent_returns_the_first_judgment_and_the_same_live_lease():
    project, [user] = annotation_project(items=3)
    first = assignment_claim_next(annotator=user, project=project).assignment
    submitted, claim = submit_and_claim(user, project, first, key="same")
    again, resumed = submit_and_claim(user, project, first, key="same")
    assert again.duplicate
    assert again.judgment.pk == submitted.judgment.pk
    assert resumed.reason is ClaimReason.RESUMED
    assert resumed.assignment.pk == claim.assignment.pk
    assert Judgment.objects.count() == 1
    assert Assignment.objects.filter(annotator=user, status="active").count() == 1


@pytest.mark.django_db(transaction=True)
def test_submit_and_claim_refused_answer_claims_nothing():
    project, [user] = annotation_project(items=3)
    first = assignment_claim_next(annotator=user, project=project).assignment
    backdate(first)
    with pytest.raises(LeaseExpired):
        submit_and_claim(user, project, first)
    assert Judgment.objects.count() == 0
    assert Assignment.objects.filter(annotator=user).count() == 1  # no next lease taken
    assert Assignment.objects.get(pk=first.pk).status == AssignmentStatus.EXPIRED  # committed all the same
    assert slots(first.item) == 1


@pytest.mark.django_db(transaction=True)
def test_submit_and_claim_keeps_the_answer_when_the_claim_is_refused():
    project, [user] = annotation_project(items=3)
    first = assignment_claim_next(annotator=user, project=project).assignment
    # Still the lease's holder, no longer an annotator here: the claim's first statement refuses.
    Membership.objects.filter(user=user, project=project).update(role=Role.RESEARCHER)
    submitted, claim = submit_and_claim(user, project, first)
    assert claim is None
    assert Judgment.objects.filter(pk=submitted.judgment.pk).exists()
    assert Assignment.objects.get(pk=first.pk).status == AssignmentStatus.SUBMITTED
    assert Assignment.objects.filter(annotator=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_submit_and_claim_expires_stale_leases_in_their_own_transaction_then_claims():
    project, [u1, u2] = annotation_project(items=2, overlap=1, annotators=2)
    mine = assignment_claim_next(annotator=u1, project=project).assignment  # the higher-priority item
    theirs = assignment_claim_next(annotator=u2, project=project).assignment
    backdate(theirs)
    submitted, claim = submit_and_claim(u1, project, mine)
    assert Assignment.objects.get(pk=theirs.pk).status == AssignmentStatus.EXPIRED
    assert claim.reason is ClaimReason.NEW
    assert claim.assignment.item_id == theirs.item_id
    assert slots(theirs.item) == 0
    # The answer committed first; the expiry and the claim came in transactions of their own.
    ids = {written_by(Judgment, submitted.judgment.pk), written_by(Assignment, theirs.pk)}
    ids.add(written_by(Assignment, claim.assignment.pk))
    assert len(ids) == 3


def test_judgments_are_append_only():
    project, [user] = annotation_project(items=1)
    lease = assignment_claim_next(annotator=user, project=project).assignment
    judgment = submit(user, project, lease).judgment
    judgment.payload = {"outcome": "preferred"}
    with pytest.raises(AppendOnlyError):
        judgment.save()
    with pytest.raises(AppendOnlyError):
        judgment.delete()


def test_prefetch_leases_one_item_behind_the_current_and_no_more():
    from annotation.services.queue import assignment_prefetch

    project, [user] = annotation_project(items=4)
    current = assignment_claim_next(annotator=user, project=project).assignment
    ahead = assignment_prefetch(annotator=user, project=project, current_id=current.pk)
    assert ahead.reason is ClaimReason.NEW
    assert ahead.assignment.item_id != current.item_id
    # Asking again returns the same pre-fetched lease; a third item is never taken.
    again = assignment_prefetch(annotator=user, project=project, current_id=current.pk)
    assert again.assignment.pk == ahead.assignment.pk
    assert assignment_prefetch(annotator=user, project=project, current_id=0).assignment.pk == current.pk
    assert Assignment.objects.filter(annotator=user, status="active").count() == 2
    # After submitting the current one, the pre-fetched lease becomes the one to work on.
    submit(user, project, current)
    assert assignment_claim_next(annotator=user, project=project).assignment.pk == ahead.assignment.pk
