"""Snapshot filters on agreement, reliability and reviews change the exported rows as expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.models import Item, Judgment
from curation.services.review import adjudication_record, review_record
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.curation.quality.judging import response_ids, three_annotator_project

pytestmark = pytest.mark.django_db


def export(project, user, media, table="preference", **filters):
    snapshot = snapshot_create(project=project, user=user, name="q", filters=filters, options={"file_format": "jsonl"})
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    assert snapshot.status == "succeeded", snapshot.error
    path = Path(media) / snapshot.folder / f"{table}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()], snapshot


def chosen_texts(rows):
    return sorted(row["chosen"] for row in rows)


@pytest.fixture
def judged(db):
    return three_annotator_project()


def test_default_export_keeps_every_judgment_with_a_winner(judged, media):
    project, _, _, people = judged
    rows, snapshot = export(project, people["researcher"], media)
    # Item 0: 3 pairs; item 1: 3 pairs; item 2: one "second" (ties are left out by default).
    assert len(rows) == 7
    assert "weight" not in rows[0]
    assert snapshot.filters["include_rejected"] is False


def test_minimum_agreement_keeps_only_agreeing_items(judged, media):
    project, _, _, people = judged
    rows, _ = export(project, people["researcher"], media, min_agreement=0.5)
    assert chosen_texts(rows) == ["Answer 0.0"] * 3  # only item 0 (agreement 1); items 1 and 2 have 1/3
    rows, _ = export(project, people["researcher"], media, min_agreement=0.3)
    assert len(rows) == 7


def test_rejected_judgments_are_left_out_by_default(judged, media):
    project, annotators, _judgments, people = judged
    item = Item.objects.filter(project=project).order_by("pk")[1]
    dissent = Judgment.objects.get(item=item, annotator=annotators[2])
    review_record(reviewer=people["reviewer"], project=project, judgment_id=dissent.pk, decision="reject")
    rows, _ = export(project, people["researcher"], media)
    assert len(rows) == 6
    raw, _ = export(project, people["researcher"], media, table="raw")
    assert dissent.pk not in {row["judgment_id"] for row in raw}
    rows, _ = export(project, people["researcher"], media, include_rejected=True)
    assert len(rows) == 7
    # Its item now agrees fully among the judgments that stand.
    rows, _ = export(project, people["researcher"], media, min_agreement=0.9)
    assert chosen_texts(rows) == ["Answer 0.0"] * 3 + ["Answer 1.0"] * 2


def test_excluding_flagged_annotators(media):
    # Five gold items that annotator 2 answers wrong: flagged low_gold (the others are not flagged).
    project, _annotators, _, people = three_annotator_project(items=3, gold_items=5)
    rows, _ = export(project, people["researcher"], media)
    assert len(rows) == 7  # gold is not data: left out by default either way
    rows, _ = export(project, people["researcher"], media, exclude_flagged_annotators=True)
    # Annotator 2's three winners (items 0, 1 and 2) are gone; the others tied item 2.
    assert chosen_texts(rows) == ["Answer 0.0", "Answer 0.0", "Answer 1.0", "Answer 1.0"]


def test_consensus_only_rows_carry_a_weight(judged, media):
    project, _, _, people = judged
    rows, snapshot = export(project, people["researcher"], media, consensus_only=True)
    # Item 0: unanimous (weight 1); item 1: 2 of 3 for the first (weight 2/3); item 2: consensus is a tie,
    # which gives a pair only when ties are included.
    assert [(row["chosen"], row["weight"]) for row in rows] == [
        ("Answer 0.0", 1.0),
        ("Answer 1.0", pytest.approx(2 / 3)),
    ]
    assert snapshot.manifest["columns"]["preference"][-1] == "weight"
    raw, _ = export(project, people["researcher"], media, table="raw", consensus_only=True)
    assert len(raw) == 9  # the raw table still lists every judgment behind the consensus
    unpaired, _ = export(project, people["researcher"], media, table="unpaired", consensus_only=True)
    assert [(r["completion"], r["label"], r["weight"]) for r in unpaired][:2] == [
        ("Answer 0.0", True, 1.0),
        ("Answer 0.1", False, 1.0),
    ]


def test_consensus_only_follows_an_adjudication_and_the_other_filters(judged, media):
    project, annotators, _, people = judged
    second = Item.objects.filter(project=project).order_by("pk")[1]
    adjudication_record(
        user=people["reviewer"],
        project=project,
        item_id=second.pk,
        answer={"outcome": "preferred", "preferred": response_ids(second)[1]},
    )
    rows, _ = export(project, people["researcher"], media, consensus_only=True)
    assert [(row["chosen"], row["weight"]) for row in rows] == [("Answer 0.0", 1.0), ("Answer 1.1", 1.0)]

    third = Item.objects.filter(project=project).order_by("pk")[2]
    for judgment in Judgment.objects.filter(item=third).exclude(annotator=annotators[2]):
        review_record(reviewer=people["reviewer"], project=project, judgment_id=judgment.pk, decision="reject")
    rows, _ = export(project, people["researcher"], media, consensus_only=True)
    # With both ties rejected, item 2's consensus is its remaining "second" answer.
    assert ("Answer 2.1", 1.0) in [(row["chosen"], row["weight"]) for row in rows]


def test_the_snapshot_form_carries_the_quality_filters(client, judged, media):
    project, _, _, people = judged
    client.force_login(people["researcher"])
    form = {
        "name": "consensus",
        "tables": ["preference"],
        "file_format": "jsonl",
        "prompt_format": "auto",
        "test_fraction": "0",
        "split_seed": "0",
        "margin_mode": "level_fraction",
        "margin_scale": "1",
        "rating_pair_min_gap": "0.25",
        "rating_label_threshold": "0.5",
        "min_agreement": "0.3",
        "exclude_flagged_annotators": "on",
        "consensus_only": "on",
    }
    page = client.get(f"/projects/{project.pk}/snapshots/new/").content.decode()
    assert "Minimum item agreement" in page
    response = client.post(f"/projects/{project.pk}/snapshots/new/", form)
    assert response.status_code == 302
    snapshot = project.snapshots.get()
    assert snapshot.filters["min_agreement"] == 0.3
    assert snapshot.filters["exclude_flagged_annotators"] is True
    assert snapshot.filters["include_rejected"] is False
    assert snapshot.filters["consensus_only"] is True
