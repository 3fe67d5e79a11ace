"""Reviews, adjudications, gold answers and the gold fraction served by the queue."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotation.models import Item, Judgment
from annotation.schemas import SchemaError
from annotation.services.queue import assignment_claim_next, assignment_release
from core.models import Membership, Role
from curation.models_quality import AppendOnlyDecisionError, ProjectQuality, Review, ReviewDecision
from curation.selectors_quality import adjudicated_answers, without_rejected
from curation.services.gold import gold_fraction_set, gold_mark, gold_unmark
from curation.services.review import adjudication_record, review_record
from tests.curation.quality.judging import response_ids, three_annotator_project
from tests.factories import MembershipFactory, annotation_project

pytestmark = pytest.mark.django_db


def test_latest_review_wins_and_the_judgment_is_never_edited():
    project, _annotators, judgments, people = three_annotator_project()
    judgment = judgments[0]
    before = Judgment.objects.filter(pk=judgment.pk).values().get()
    review_record(reviewer=people["reviewer"], project=project, judgment_id=judgment.pk, decision="reject", note="off")
    assert judgment.pk not in set(
        without_rejected(Judgment.objects.filter(project=project)).values_list("pk", flat=True)
    )
    review_record(reviewer=people["admin"], project=project, judgment_id=judgment.pk, decision="accept")
    assert judgment.pk in set(without_rejected(Judgment.objects.filter(project=project)).values_list("pk", flat=True))
    assert Review.objects.filter(judgment=judgment).count() == 2  # the history stays
    assert Judgment.objects.filter(pk=judgment.pk).values().get() == before
    assert ProjectQuality.objects.get(project=project).dirty


def test_reviews_are_append_only():
    project, _, judgments, people = three_annotator_project()
    review = review_record(reviewer=people["reviewer"], project=project, judgment_id=judgments[0].pk, decision="flag")
    review.decision = ReviewDecision.ACCEPT
    with pytest.raises(AppendOnlyDecisionError):
        review.save()


def test_who_may_review():
    project, annotators, judgments, people = three_annotator_project()
    for user in (annotators[0], people["researcher"], MembershipFactory().user):
        with pytest.raises(PermissionDenied):
            review_record(reviewer=user, project=project, judgment_id=judgments[1].pk, decision="accept")
    other, _ = annotation_project(kind="pairwise", items=1)
    MembershipFactory(project=other, user=people["reviewer"], role=Role.REVIEWER)
    with pytest.raises(Http404):  # a judgment of another project looks like a missing one
        review_record(reviewer=people["reviewer"], project=other, judgment_id=judgments[1].pk, decision="accept")
    with pytest.raises(SchemaError):
        review_record(reviewer=people["reviewer"], project=project, judgment_id=judgments[1].pk, decision="maybe")


def test_nobody_reviews_their_own_judgment():
    project, annotators, judgments, _ = three_annotator_project()
    Membership.objects.filter(project=project, user=annotators[0]).update(role=Role.REVIEWER)
    own = next(j for j in judgments if j.annotator_id == annotators[0].pk)
    with pytest.raises(PermissionDenied, match="your own"):
        review_record(reviewer=annotators[0], project=project, judgment_id=own.pk, decision="accept")


def test_adjudication_is_validated_and_latest_wins():
    project, _, _, people = three_annotator_project()
    item = Item.objects.filter(project=project).order_by("pk")[1]
    first, second = response_ids(item)
    with pytest.raises(SchemaError, match="preferred"):
        adjudication_record(user=people["reviewer"], project=project, item_id=item.pk, answer={"outcome": "preferred"})
    adjudication_record(
        user=people["reviewer"], project=project, item_id=item.pk, answer={"outcome": "preferred", "preferred": first}
    )
    adjudication_record(
        user=people["admin"], project=project, item_id=item.pk, answer={"outcome": "preferred", "preferred": second}
    )
    assert adjudicated_answers(project=project) == {item.pk: {"outcome": "preferred", "preferred": second}}


def test_gold_mark_checks_the_answer_and_unmark_clears_it():
    project, _, _, people = three_annotator_project()
    item = Item.objects.filter(project=project).order_by("pk")[0]
    with pytest.raises(PermissionDenied):
        gold_mark(user=people["reviewer"], project=project, item_id=item.pk, answer={"outcome": "tie"})
    with pytest.raises(SchemaError):
        gold_mark(
            user=people["admin"], project=project, item_id=item.pk, answer={"outcome": "preferred", "preferred": -1}
        )
    gold_mark(user=people["admin"], project=project, item_id=item.pk, answer={"outcome": "tie", "extra": 1})
    item.refresh_from_db()
    assert (item.is_gold, item.gold_answer) == (True, {"outcome": "tie"})
    gold_unmark(user=people["admin"], project=project, item_id=item.pk)
    item.refresh_from_db()
    assert (item.is_gold, item.gold_answer) == (False, None)


def test_rating_gold_has_a_tolerance():
    project, _ = annotation_project(kind="rating", items=1)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    item = Item.objects.get(project=project)
    gold_mark(
        user=admin, project=project, item_id=item.pk, answer={"ratings": {"helpfulness": {"score": 6}}, "tolerance": 1}
    )
    item.refresh_from_db()
    assert item.gold_answer == {"ratings": {"helpfulness": {"score": 6}}, "tolerance": 1}
    with pytest.raises(SchemaError, match="score must be 1 to 7"):
        gold_mark(user=admin, project=project, item_id=item.pk, answer={"ratings": {"helpfulness": {"score": 9}}})


class FixedRandom(random.Random):
    """``random()`` returns ``value``; shuffles still work."""

    def __init__(self, value):
        super().__init__(0)
        self.value = value

    def random(self):
        return self.value


def gold_project(fraction):
    project, [annotator] = annotation_project(kind="pairwise", items=4)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    # The lowest-priority item is gold: by priority alone it would be served last.
    gold = Item.objects.filter(project=project).order_by("priority").first()
    gold_mark(user=admin, project=project, item_id=gold.pk, answer={"outcome": "tie"})
    if fraction != "unmanaged":
        gold_fraction_set(user=admin, project=project, fraction=fraction)
    return project, annotator, gold


@pytest.mark.parametrize(
    ("fraction", "draw", "serves_gold"),
    [
        (0.2, 0.1, True),  # the draw falls within the fraction: gold first
        (0.2, 0.5, False),
        (0.0, 0.0, False),  # a fraction of 0 never serves gold
    ],
)
def test_the_queue_serves_gold_with_the_projects_fraction(fraction, draw, serves_gold):
    project, annotator, gold = gold_project(fraction)
    claim = assignment_claim_next(annotator=annotator, project=project, rng=FixedRandom(draw))
    assert (claim.assignment.item_id == gold.pk) is serves_gold


def test_unmanaged_gold_is_served_by_priority_and_managed_gold_never_by_priority_alone():
    project, annotator, gold = gold_project("unmanaged")
    served = []
    while (claim := assignment_claim_next(annotator=annotator, project=project)).assignment:
        served.append(claim.assignment.item_id)
        assignment_release(
            annotator=annotator, project=project, assignment_id=claim.assignment.pk, status="skipped", reason="x"
        )
    assert served[-1] == gold.pk  # lowest priority, served last like any item

    project, annotator, gold = gold_project(0.25)
    served = []
    while (claim := assignment_claim_next(annotator=annotator, project=project, rng=FixedRandom(0.9))).assignment:
        served.append(claim.assignment.item_id)
        assignment_release(
            annotator=annotator, project=project, assignment_id=claim.assignment.pk, status="skipped", reason="x"
        )
    assert gold.pk not in served  # every draw missed the fraction: only ordinary items


def test_gold_fraction_bounds():
    project, _, _, people = three_annotator_project()
    with pytest.raises(SchemaError):
        gold_fraction_set(user=people["admin"], project=project, fraction=0.8)
    with pytest.raises(PermissionDenied):
        gold_fraction_set(user=people["reviewer"], project=project, fraction=0.1)
    assert gold_fraction_set(user=people["admin"], project=project, fraction=0.1).gold_fraction == 0.1
