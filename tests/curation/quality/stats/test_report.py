"""The whole report on small fixtures: ratings with missing aspects, one annotator, Dawid-Skene's gate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from curation.stats.agreement import numeric_agreement
from curation.stats.facts import JudgmentFact
from curation.stats.report import quality_report

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SCALES = {"helpfulness": (1, 7), "honesty": (1, 7)}


def rated(n, annotator, item, scores):
    return JudgmentFact(
        id=n, item_id=item, annotator_id=annotator, kind="rating",
        payload={"response": 100 + item, "ratings": {k: {"score": v, "comment": ""} for k, v in scores.items()}},
        positions=(100 + item,), display_order=(100 + item,), time_spent_ms=1000 + n, created_at=T0,
        lengths={100 + item: 10 * item},
    )  # fmt: skip


def pair(n, annotator, item, winner):
    a, b = 10 * item, 10 * item + 1
    return JudgmentFact(
        id=n, item_id=item, annotator_id=annotator, kind="pairwise",
        payload={"outcome": "preferred", "preferred": a if winner == 0 else b, "rejected": b if winner == 0 else a},
        positions=(a, b), display_order=(a, b), time_spent_ms=1000 + n, created_at=T0, lengths={a: 5, b: 9},
    )  # fmt: skip


def test_ratings_per_aspect_with_a_missing_rating():
    facts = [
        rated(1, 1, 1, {"helpfulness": 2, "honesty": 6}),
        rated(2, 2, 1, {"helpfulness": 4}),  # honesty is optional and left unrated
        rated(3, 1, 2, {"helpfulness": 7, "honesty": 7}),
        rated(4, 2, 2, {"helpfulness": 7, "honesty": 5}),
    ]
    report = quality_report(facts, kind="rating", scales=SCALES)
    assert report.agreement["helpfulness"].units == 2
    assert report.agreement["honesty"].units == 1  # item 1 has one honesty score: not pairable
    assert report.agreement["helpfulness"].percent == pytest.approx(0.5)  # (2 vs 4) no, (7 vs 7) yes
    first, second = report.items
    # Item 1: helpfulness |2 - 4| / 6 -> 2/3; honesty rated once -> left out.
    assert first.agreement == pytest.approx(2 / 3)
    assert first.consensus["ratings"]["helpfulness"] == {"mean": 3.0, "spread": 1.0, "count": 2}
    assert first.consensus["ratings"]["honesty"] == {"mean": 6.0, "spread": 0.0, "count": 1}
    # Item 2: helpfulness 1; honesty |7 - 5| / 6 -> 2/3; mean 5/6.
    assert second.agreement == pytest.approx(5 / 6)
    assert report.bias.overall.length_correlation_n == 4


def test_one_annotator_has_consensus_but_no_agreement():
    facts = [pair(n, 1, n, 0) for n in range(5)]
    report = quality_report(facts, kind="pairwise")
    assert report.agreement["all"].units == 0
    assert report.agreement["all"].percent is None
    assert all(item.agreement is None for item in report.items)
    assert all(item.consensus["label"] == "first" and item.support == 1.0 for item in report.items)
    assert report.model == {}  # no overlap: no Dawid-Skene


def test_numeric_agreement_of_one_annotator_is_undefined():
    result = numeric_agreement([[3], [4]], low=1, high=5)
    assert (result.units, result.percent, result.fleiss_kappa) == (0, None, None)
    assert result.alpha == {"ordinal": None, "interval": None}


def test_dawid_skene_is_used_once_there_is_enough_overlap():
    facts = [pair(3 * item + a, a, item, item % 2) for item in range(12) for a in (1, 2, 3)]
    report = quality_report(facts, kind="pairwise")
    assert report.model["method"] == "dawid_skene"
    assert report.model["converged"]
    assert {item.method for item in report.items} == {"dawid_skene"}
    assert all(item.consensus["label"] == ("first" if item.item_id % 2 == 0 else "second") for item in report.items)


def test_rejected_judgments_leave_agreement_but_count_for_their_author():
    facts = [pair(1, 1, 1, 0), pair(2, 2, 1, 1)]
    rejected = JudgmentFact(**{**facts[1].__dict__, "rejected": True})
    report = quality_report([facts[0], rejected], kind="pairwise")
    assert report.items[0].judgments == 1
    assert {r.annotator: r.judgments for r in report.annotators} == {1: 1, 2: 1}
