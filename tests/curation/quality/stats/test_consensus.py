"""Consensus: majority vote, Borda, Plackett-Luce, rating mean/spread, Dawid-Skene (no database)."""

from __future__ import annotations

import pytest

from curation.stats.consensus import (
    borda,
    majority_vote,
    plackett_luce,
    ranking_consensus,
    rating_consensus,
    rating_support,
)
from curation.stats.dawid_skene import dawid_skene, has_enough_overlap
from curation.stats.labels import PAIR_LABELS, Label


@pytest.mark.parametrize(
    ("values", "label", "support"),
    [
        (["first", "first", "second"], "first", 2 / 3),
        (["tie"], "tie", 1.0),  # one annotator: their answer, fully supported by the evidence there is
        (["first", "second"], None, 0.0),  # split: no consensus
        (["tie", "tie", "first", "second"], "tie", 0.5),
        ([], None, 0.0),
    ],
)
def test_majority_vote(values, label, support):
    vote = majority_vote(values)
    assert vote.label == label
    assert vote.support == pytest.approx(support)


def test_borda_counts_ties_as_half_points():
    # [1 > 2 > 3]: 2, 1, 0.  [2 > (1 = 3)]: 2 gets 2, 1 and 3 get 0 + 1/2 each.
    assert borda([[[1], [2], [3]], [[2], [1, 3]]]) == {1: 2.5, 2: 3.0, 3: 0.5}


def test_plackett_luce_two_items_by_hand():
    # One ranking a > b, Gamma(2, 1) prior: g_a = 2 / (1 + 1/s), g_b = 1 / (1 + 1/s), s = g_a + g_b.
    # So g_a = 2 g_b, s = 3 g_b = 3s / (s + 1) -> s = 2: g_a = 4/3, g_b = 2/3 -> normalised 2/3, 1/3.
    fit = plackett_luce([[[1], [2]]])
    assert fit.converged
    assert fit.strengths[1] == pytest.approx(2 / 3)
    assert fit.strengths[2] == pytest.approx(1 / 3)


def test_plackett_luce_symmetric_rankings_give_a_tie():
    result = ranking_consensus([[[1], [2]], [[2], [1]]])
    assert result.tiers == [[1, 2]]
    assert result.strengths == {1: pytest.approx(0.5), 2: pytest.approx(0.5)}
    assert result.support == pytest.approx(0.0)  # each annotator ordered the pair; the aggregate ties it


def test_ranking_consensus_and_its_support_by_hand():
    rankings = [[[1], [2], [3]], [[1], [3], [2]], [[2], [1], [3]]]
    result = ranking_consensus(rankings)
    assert result.tiers == [[1], [2], [3]]
    assert result.borda == {1: 5.0, 2: 3.0, 3: 1.0}
    # Pairs agreeing with 1 > 2 > 3: first ranking 3 of 3, second 2 of 3, third 2 of 3 -> 7/9.
    assert result.support == pytest.approx(7 / 9)
    assert result.strengths[1] > result.strengths[2] > result.strengths[3]


def test_a_tied_ranking_alone_is_a_tied_consensus():
    result = ranking_consensus([[[5, 6], [7]]])
    assert result.tiers == [[5, 6], [7]]
    assert result.support == 1.0


def test_plackett_luce_stops_at_its_iteration_limit():
    fit = plackett_luce([[[1], [2], [3]]] * 3 + [[[3], [1], [2]]], max_iter=2, tol=0.0)
    assert (fit.iterations, fit.converged) == (2, False)


def test_rating_mean_and_spread_skip_missing_ratings():
    summary = rating_consensus([{"helpfulness": 1, "honesty": 5}, {"helpfulness": 3}, {}])
    assert summary["helpfulness"].mean == 2.0
    assert summary["helpfulness"].spread == 1.0  # population sd of 1 and 3
    assert summary["helpfulness"].count == 2
    assert (summary["honesty"].mean, summary["honesty"].spread, summary["honesty"].count) == (5.0, 0.0, 1)
    # 1 - mean(1 / 3, 0 / 3) with half-ranges of 3 points on a 1-7 scale.
    assert rating_support(summary, {"helpfulness": (1, 7), "honesty": (1, 7)}) == pytest.approx(1 - 1 / 6)


def _labels(rows):
    return [Label((unit, 1, 2), annotator, value) for unit, answers in rows for annotator, value in answers]


def spammers_and_experts():
    """Items 0-19: experts 1 and 2 always right; 3 and 4 answer "first" whatever the truth.
    Item 99: expert 1 says "second", the two spammers say "first"."""
    rows = []
    for unit in range(20):
        truth = "first" if unit % 2 == 0 else "second"
        rows.append((unit, [(1, truth), (2, truth), (3, "first"), (4, "first")]))
    rows.append((99, [(1, "second"), (3, "first"), (4, "first")]))
    return _labels(rows)


def test_dawid_skene_trusts_the_expert_over_a_majority_of_spammers():
    labels = spammers_and_experts()
    assert has_enough_overlap(labels)
    model = dawid_skene(labels, PAIR_LABELS)
    assert model.converged
    assert majority_vote(["second", "first", "first"]).label == "first"
    label, probability = model.best((99, 1, 2))
    assert label == "second"
    assert probability > 0.9
    for unit in range(20):
        assert model.best((unit, 1, 2))[0] == ("first" if unit % 2 == 0 else "second")
    assert model.spammer_score(1) > 0.8
    assert model.spammer_score(3) < 0.05  # answers do not depend on the truth


def test_dawid_skene_with_perfect_agreement_is_certain_and_converges():
    labels = _labels([(u, [(1, "first"), (2, "first")]) if u % 3 else (u, [(1, "tie"), (2, "tie")]) for u in range(12)])
    model = dawid_skene(labels, PAIR_LABELS)
    assert model.converged
    assert model.best((0, 1, 2))[0] == "tie"
    label, probability = model.best((1, 1, 2))
    assert label == "first"
    assert probability > 0.95  # not 1: the smoothed priors keep a little doubt with 12 units


def test_dawid_skene_respects_its_iteration_limit():
    model = dawid_skene(spammers_and_experts(), PAIR_LABELS, max_iter=1, tol=0.0)
    assert (model.iterations, model.converged) == (1, False)


def test_overlap_gate():
    few = _labels([(u, [(1, "first"), (2, "first")]) for u in range(9)])
    assert not has_enough_overlap(few)  # 9 shared units < 10
    one_annotator = _labels([(u, [(1, "first")]) for u in range(50)])
    assert not has_enough_overlap(one_annotator)
