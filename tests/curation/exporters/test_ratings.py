"""Rating-derived pairs and KTO labels: normalisation, threshold, aggregation across annotators."""

from __future__ import annotations

import pytest

from curation.exporters.ratings import PromptRatings, normalised_mean
from curation.exporters.records import AspectScale
from tests.curation.exporters.records import ctx, rating, record

SCALES = {"helpfulness": AspectScale(1, 7), "honesty": AspectScale(1, 7)}


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ({"helpfulness": {"score": 1}, "honesty": {"score": 7}}, 0.5),
        ({"helpfulness": {"score": 7}}, 1.0),
        ({"helpfulness": {"score": 4}, "retired_aspect": {"score": 1}}, 0.5),  # unknown aspects ignored
        ({"retired_aspect": {"score": 1}}, None),
        ({}, None),
    ],
)
def test_normalised_mean(ratings, expected):
    assert normalised_mean(ratings, SCALES) == expected


def collect(*records, **options):
    context = ctx(**options)
    ratings = PromptRatings()
    for rec in records:
        ratings.add(rec, context)
    pairs = [(p.chosen, p.rejected, round(p.margin, 6), p.origin) for _, p in ratings.pairs(context)]
    labels = [(r["completion"], r["label"]) for r in ratings.unpaired(context)]
    return pairs, labels


def rated(response_id, text, judgment_id, **scores):
    return record("rating", rating(response_id, **scores), texts=(text,), first_id=response_id, judgment_id=judgment_id)


def test_pairs_need_the_minimum_gap():
    good = rated(10, "good", 1, helpfulness=7, honesty=7)  # 1.0
    fine = rated(11, "fine", 2, helpfulness=6, honesty=6)  # 0.8333
    poor = rated(12, "poor", 3, helpfulness=2, honesty=2)  # 0.1667
    pairs, _ = collect(good, fine, poor)
    assert pairs == [("good", "poor", round(5 / 6, 6), "rating"), ("fine", "poor", round(4 / 6, 6), "rating")]


def test_a_gap_of_exactly_the_threshold_makes_a_pair():
    a = rated(10, "a", 1, helpfulness=5, honesty=5)  # 4/6
    b = rated(11, "b", 2, helpfulness=2, honesty=2)  # 1/6 -> gap 0.5 exactly
    pairs, _ = collect(a, b, rating_pair_min_gap=0.5)
    assert [p[:2] for p in pairs] == [("a", "b")]


def test_several_annotators_are_averaged_per_response():
    a1 = rated(10, "a", 1, helpfulness=7, honesty=7)
    a2 = rated(10, "a", 2, helpfulness=1, honesty=1)  # a: mean 0.5
    b = rated(11, "b", 3, helpfulness=4, honesty=4)  # b: 0.5
    pairs, labels = collect(a1, a2, b)
    assert pairs == []
    assert labels == [("a", True), ("b", True)]  # one KTO row per response, not per judgment


@pytest.mark.parametrize(("threshold", "label"), [(0.5, True), (0.51, False), (0.0, True)])
def test_kto_label_threshold(threshold, label):
    _, labels = collect(rated(10, "a", 1, helpfulness=4, honesty=4), rating_label_threshold=threshold)
    assert labels == [("a", label)]


def test_margin_none_mode_writes_zero():
    pairs, _ = collect(
        rated(10, "a", 1, helpfulness=7, honesty=7),
        rated(11, "b", 2, helpfulness=1, honesty=1),
        margin={"mode": "none"},
    )
    assert pairs == [("a", "b", 0.0, "rating")]


def test_other_kinds_are_ignored():
    pairs, labels = collect(record("pairwise", {"outcome": "tie"}))
    assert pairs == labels == []
