"""Position and length bias, annotator reliability and flags, against hand-computed values (no database)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from curation.stats.bias import bias_report, bias_stats
from curation.stats.facts import JudgmentFact
from curation.stats.proportions import proportion
from curation.stats.reliability import (
    ADVERSARIAL,
    FAST,
    LOW_GOLD,
    POSITION,
    RANDOM,
    Thresholds,
    annotator_reliability,
    gold_accuracy_by_week,
    robust_z,
)

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # a Monday
_ids = iter(range(1, 100_000))


def pair(annotator, item, *, winner=None, outcome="preferred", shown=(10, 11), lengths=(5, 5), ms=5000, **extra):
    """A pairwise fact on responses 10 and 11 (item order). ``winner`` is a response id."""
    a, b = 10, 11
    payload = {"outcome": outcome, "preferred": winner, "rejected": (b if winner == a else a) if winner else None}
    return JudgmentFact(
        id=next(_ids),
        item_id=item,
        annotator_id=annotator,
        kind="pairwise",
        payload=payload,
        positions=(a, b),
        display_order=tuple(shown),
        time_spent_ms=ms,
        created_at=extra.pop("created_at", T0),
        lengths={a: lengths[0], b: lengths[1]},
        **extra,
    )


def test_proportion_wilson_interval_and_binomial_test_by_hand():
    # Wilson, p = 0.8, n = 10, z = 1.96: centre 0.7167, half-width 0.2266. P(X >= 8) = 56/1024, two-sided.
    p = proportion(8, 10)
    assert (p.low, p.high) == (pytest.approx(0.49016, abs=1e-4), pytest.approx(0.94332, abs=1e-4))
    assert p.p_value == pytest.approx(2 * 56 / 1024)
    assert proportion(0, 0) is None


def test_pairwise_position_and_length_bias_by_hand():
    facts = [
        pair(1, 1, winner=10, shown=(10, 11), lengths=(20, 10)),  # first shown wins; longer wins, ratio 2
        pair(1, 2, winner=10, shown=(10, 11), lengths=(10, 20)),  # first shown wins; shorter wins, ratio 1/2
        pair(1, 3, winner=11, shown=(11, 10), lengths=(10, 40)),  # first shown wins; longer wins, ratio 4
        pair(1, 4, winner=11, shown=(10, 11), lengths=(30, 30)),  # second shown wins; equal lengths
        pair(1, 5, outcome="tie"),  # no winner: not counted anywhere
    ]
    stats = bias_stats(facts)
    assert (stats.position.k, stats.position.n) == (3, 4)
    assert (stats.longer_wins.k, stats.longer_wins.n) == (2, 3)
    assert stats.mean_log_length_ratio == pytest.approx((math.log(2) + math.log(0.5) + math.log(4)) / 3)
    # Relative gaps 0.5, 0.5, 0.75 -> bins 25-50% (1 of 2 longer) and 50-100% (1 of 1).
    assert [(b.label, b.k, b.n) for b in stats.length_bins] == [
        ("0-10%", 0, 0),
        ("10-25%", 0, 0),
        ("25-50%", 1, 2),
        ("50-100%", 1, 1),
    ]


def test_all_ties_have_no_bias_estimate():
    stats = bias_stats([pair(1, n, outcome="tie") for n in range(5)])
    assert stats.position is None
    assert stats.longer_wins is None
    assert stats.mean_log_length_ratio is None


def test_ranking_position_bias_compares_with_one_over_k():
    def ranked(item, ranking, shown):
        return JudgmentFact(
            id=next(_ids), item_id=item, annotator_id=1, kind="ranking", payload={"ranking": ranking},
            positions=(1, 2, 3), display_order=shown, time_spent_ms=1000, created_at=T0,
            lengths={1: 30, 2: 20, 3: 10},
        )  # fmt: skip

    stats = bias_stats([ranked(1, [[1], [2], [3]], (1, 2, 3)), ranked(2, [[2], [1], [3]], (3, 1, 2))])
    assert (stats.position.k, stats.position.n, stats.position.expected) == (1, 2, pytest.approx(1 / 3))
    assert (stats.longer_wins.k, stats.longer_wins.n) == (1, 2)  # response 1 is the longest


def test_rating_length_correlation():
    def rated(n, score, length):
        return JudgmentFact(
            id=next(_ids), item_id=n, annotator_id=1, kind="rating",
            payload={"response": n, "ratings": {"helpfulness": {"score": score}}}, positions=(n,),
            display_order=(n,), time_spent_ms=1000, created_at=T0, lengths={n: length},
        )  # fmt: skip

    stats = bias_stats(
        [rated(1, 1, 10), rated(2, 3, 20), rated(3, 5, 30), rated(4, 7, 40)], scales={"helpfulness": (1, 7)}
    )
    assert stats.length_correlation == pytest.approx(1.0)
    assert stats.length_correlation_n == 4


def test_bias_report_is_per_annotator_and_overall():
    facts = [pair(1, 1, winner=10), pair(2, 1, winner=11)]
    report = bias_report(facts)
    assert report.overall.position.n == 2
    assert set(report.per_annotator) == {1, 2}


@pytest.mark.parametrize(
    ("values", "reference", "expected"),
    [
        ([3, 6], [1, 2, 3, 4, 5], [0.0, 3 / 1.4826]),  # median 3, MAD 1
        ([2], [1, 1, 1, 5], [1 / 1.2533]),  # MAD 0: mean absolute deviation 1 instead
        ([2], [4, 4, 4], None),  # no spread at all
        ([2], [], None),
    ],
)
def test_robust_z(values, reference, expected):
    result = robust_z(values, reference)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_leave_one_out_agreement_by_hand():
    facts = [
        pair(1, 1, winner=10), pair(2, 1, winner=10), pair(3, 1, winner=11),
        pair(1, 2, winner=11), pair(2, 2, winner=11), pair(3, 2, winner=11),
    ]  # fmt: skip
    by = {r.annotator: r for r in annotator_reliability(facts)}
    # Annotator 3: item 1 others say first (3 said second), item 2 others say second (agrees): 1/2.
    # Chance: own labels {second: 2}, others' consensus {first: 1, second: 1} -> 2 * 1 / 4 = 1/2.
    assert by[3].consensus.agreement == 0.5
    assert by[3].consensus.chance == 0.5
    assert by[3].consensus.p_above == pytest.approx(0.75)  # P(X >= 1), X ~ Bin(2, 1/2)
    # Annotator 1: item 1's others split (first, second) -> not compared; item 2 agrees.
    assert (by[1].consensus.compared, by[1].consensus.agreement) == (1, 1.0)
    assert by[1].flags == ()  # far too little evidence for any flag


def test_rejected_judgments_of_others_do_not_vote():
    facts = [pair(1, 1, winner=10), pair(2, 1, winner=11, rejected=True), pair(3, 1, winner=11)]
    by = {r.annotator: r for r in annotator_reliability(facts)}
    assert by[1].consensus.agreement == 0.0  # only annotator 3 votes against 1
    assert by[2].judgments == 1  # a rejected judgment still counts for its author


def test_gold_accuracy_regrades_with_the_current_answer():
    gold = {"outcome": "preferred", "preferred": 10}
    facts = [
        pair(1, 1, winner=10, is_gold=True, gold_answer=gold),
        pair(1, 2, winner=10, is_gold=True, gold_answer=gold),
        pair(1, 3, winner=11, is_gold=True, gold_answer=gold, created_at=T0 + timedelta(days=7)),
        pair(1, 4, winner=11),  # not gold
    ]
    [reliability] = annotator_reliability(facts)
    assert (reliability.gold.k, reliability.gold.n) == (2, 3)
    assert gold_accuracy_by_week(facts) == {1: [("2026-05-04", 2, 2), ("2026-05-11", 0, 1)]}


def test_flags_fast_position_random_adversarial_low_gold():
    t = Thresholds(min_judgments=20, min_gold=5)
    facts = []
    for item in range(40):
        truth = 10 if item % 2 == 0 else 11
        other = 11 if truth == 10 else 10
        for careful in (1, 2, 6, 7):
            facts.append(pair(careful, item, winner=truth, ms=20_000 + 97 * item + 1000 * careful))
        facts.append(pair(3, item, winner=other, ms=22_000 + 71 * item))  # always against the others
        # Picks whatever is shown first, in a blink.
        facts.append(pair(4, item, winner=10, shown=(10, 11), ms=300))
    for item in range(100, 106):
        facts.append(pair(5, item, winner=11, is_gold=True, gold_answer={"outcome": "preferred", "preferred": 10}))
    by = {r.annotator: r for r in annotator_reliability(facts, thresholds=t)}
    assert [by[a].flags for a in (1, 2, 6, 7)] == [(), (), (), ()]
    assert ADVERSARIAL in by[3].flags
    assert FAST in by[4].flags
    assert POSITION in by[4].flags
    assert RANDOM in by[4].flags  # agrees with the others half the time: chance
    assert by[5].flags == (LOW_GOLD,)
    assert by[4].speed.fast_share == 1.0
    assert by[4].position.rate == 1.0
