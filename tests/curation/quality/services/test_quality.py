"""Recomputing stored statistics on real Postgres, from judgments made through the queue."""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotation.models import Item
from curation.models_quality import AnnotatorReliability, ItemAgreement, ProjectQuality, ReviewDecision
from curation.services.quality import quality_due_project_ids, quality_recompute, quality_refresh
from curation.services.review import review_record
from curation.tasks_quality import recompute_quality, recompute_stale_quality
from tests.curation.quality.judging import three_annotator_project

pytestmark = pytest.mark.django_db


def stored(project):
    items = list(Item.objects.filter(project=project).order_by("pk"))
    return [ItemAgreement.objects.filter(item=item).first() for item in items]


def test_recompute_stores_item_agreement_and_consensus():
    project, annotators, judgments, _ = three_annotator_project()
    result = quality_recompute(project_id=project.pk)
    assert (result.judgments, result.items, result.annotators) == (9, 3, 3)
    first, second, third = stored(project)
    assert first.agreement == 1.0
    assert first.consensus["label"] == "first"
    assert first.support == 1.0
    assert second.agreement == pytest.approx(1 / 3)
    assert second.consensus["label"] == "first"
    assert second.support == pytest.approx(2 / 3)
    assert second.method == "majority"  # 3 shared items: too little overlap for Dawid-Skene
    assert third.agreement == pytest.approx(1 / 3)
    assert third.agreement_no_ties is None  # one answer is left once ties are dropped
    assert third.consensus["outcome"] == "tie"

    quality = ProjectQuality.objects.get(project=project)
    assert quality.computed_through_judgment == max(j.pk for j in judgments)
    assert not quality.dirty
    overall = quality.summary["agreement"]["all"]
    assert overall["percent"] == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert overall["units"] == 3
    assert set(AnnotatorReliability.objects.filter(project=project).values_list("annotator_id", flat=True)) == {
        a.pk for a in annotators
    }


def test_a_rejected_judgment_stops_counting_for_its_item():
    project, annotators, judgments, people = three_annotator_project()
    dissent = next(j for j in judgments if j.annotator == annotators[2] and j.item_id == stored_item(project, 1))
    review_record(reviewer=people["reviewer"], project=project, judgment_id=dissent.pk, decision=ReviewDecision.REJECT)
    quality_recompute(project_id=project.pk)
    second = stored(project)[1]
    assert (second.judgments, second.agreement) == (2, 1.0)
    # The rejected judgment still counts for its author's reliability.
    assert AnnotatorReliability.objects.get(project=project, annotator=annotators[2]).judgments == 3


def stored_item(project, index):
    return Item.objects.filter(project=project).order_by("pk")[index].pk


def test_gold_accuracy_and_low_gold_flag():
    project, annotators, _, _ = three_annotator_project(items=3, gold_items=5)
    quality_recompute(project_id=project.pk)
    rows = {r.annotator_id: r for r in AnnotatorReliability.objects.filter(project=project)}
    assert rows[annotators[0].pk].gold_accuracy == 1.0
    assert rows[annotators[0].pk].gold_total == 5
    assert rows[annotators[2].pk].gold_accuracy == 0.0
    assert rows[annotators[2].pk].flags == ["low_gold"]
    assert rows[annotators[2].pk].flagged
    assert not rows[annotators[0].pk].flagged


def test_due_projects_and_refresh():
    project, _, _, _people = three_annotator_project()
    assert project.pk in quality_due_project_ids()  # never computed
    quality_recompute(project_id=project.pk)
    assert project.pk not in quality_due_project_ids()
    assert quality_refresh(project=project) is None  # nothing new: nothing recomputed
    ProjectQuality.objects.filter(project=project).update(dirty=True)
    assert quality_refresh(project=project) is not None


def test_a_held_claim_makes_a_second_recompute_a_no_op():
    project, _, _, _ = three_annotator_project()
    quality_recompute(project_id=project.pk)
    ProjectQuality.objects.filter(project=project).update(running_since=timezone.now())
    assert quality_recompute(project_id=project.pk) is None


def test_tasks_recompute_and_enqueue(monkeypatch):
    project, _, _, _ = three_annotator_project()
    recompute_quality(project.pk)
    assert ItemAgreement.objects.filter(project=project).count() == 3
    ProjectQuality.objects.filter(project=project).update(dirty=True)
    sent = []
    monkeypatch.setattr(recompute_quality, "delay", sent.append)
    assert recompute_stale_quality() >= 1
    assert project.pk in sent


def test_free_text_projects_get_reliability_but_no_agreement():
    from tests.curation.judging import judged_project

    project, _annotators, _ = judged_project("free_text", items=2, annotators=2)
    result = quality_recompute(project_id=project.pk)
    assert result.items == 0
    assert AnnotatorReliability.objects.filter(project=project).count() == 2
