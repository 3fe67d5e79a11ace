"""Bradley-Terry leaderboard maths on hand-computed cases (pure, no database)."""

from __future__ import annotations

import math

import pytest

from models_registry.leaderboard import ELO_MEAN, Battle, elo_ratings, fit_strengths, leaderboard

NEGLIGIBLE = 1e-9


def record(a, b, wins_a, wins_b, ties=0):
    return [Battle(a, b, "a")] * wins_a + [Battle(a, b, "b")] * wins_b + [Battle(a, b, "tie")] * ties


def test_three_wins_to_one_is_400_log10_3_apart():
    ratings = elo_ratings(record("x", "y", 3, 1), prior=NEGLIGIBLE)
    assert ratings["x"] - ratings["y"] == pytest.approx(400 * math.log10(3), abs=0.05)
    assert (ratings["x"] + ratings["y"]) / 2 == pytest.approx(ELO_MEAN)


def test_order_of_sides_does_not_matter():
    flipped = [Battle("y", "x", "b")] * 3 + [Battle("y", "x", "a")]
    assert elo_ratings(flipped, prior=NEGLIGIBLE) == pytest.approx(
        elo_ratings(record("x", "y", 3, 1), prior=NEGLIGIBLE)
    )


def test_a_tie_is_half_a_win_to_each_side():
    # 2 wins + 2 ties against 0 wins: 3 points to 1, the same gap as a 3:1 record.
    ratings = elo_ratings(record("x", "y", 2, 0, ties=2), prior=NEGLIGIBLE)
    assert ratings["x"] - ratings["y"] == pytest.approx(400 * math.log10(3), abs=0.05)
    only_ties = elo_ratings(record("x", "y", 0, 0, ties=5), prior=NEGLIGIBLE)
    assert only_ties["x"] == pytest.approx(only_ties["y"])


def test_symmetric_data_gives_equal_ratings():
    battles = record("a", "b", 4, 4) + record("b", "c", 2, 2, ties=1) + record("c", "a", 3, 3)
    ratings = elo_ratings(battles, prior=NEGLIGIBLE)
    assert ratings["a"] == pytest.approx(ELO_MEAN, abs=1e-6)
    assert ratings["b"] == pytest.approx(ELO_MEAN, abs=1e-6)
    assert ratings["c"] == pytest.approx(ELO_MEAN, abs=1e-6)


def test_transitive_chain_and_mean_anchored_at_1000():
    # a beats b 3:1 and b beats c 3:1 with no a-c games: gaps add up.
    ratings = elo_ratings(record("a", "b", 3, 1) + record("b", "c", 3, 1), prior=NEGLIGIBLE)
    gap = 400 * math.log10(3)
    assert ratings["a"] - ratings["b"] == pytest.approx(gap, abs=0.1)
    assert ratings["b"] - ratings["c"] == pytest.approx(gap, abs=0.1)
    assert sum(ratings.values()) / 3 == pytest.approx(ELO_MEAN)


def test_an_unbeaten_model_stays_finite():
    ratings = elo_ratings(record("x", "y", 5, 0))
    assert all(math.isfinite(r) for r in ratings.values())
    assert ratings["x"] > ratings["y"]
    assert ratings["x"] - ratings["y"] < 2000


def test_prior_must_be_positive():
    with pytest.raises(ValueError, match="prior must be positive"):
        fit_strengths(record("x", "y", 1, 1), prior=0)


def test_standings_rank_record_and_battles():
    battles = record("x", "y", 3, 1, ties=2) + record("y", "z", 2, 0) + [Battle("both", "both", "a")]
    board = leaderboard(battles, rounds=50, seed=1)
    assert [s.name for s in board] == ["x", "y", "z"]  # a self-battle is not a battle
    assert [s.rank for s in board] == [1, 2, 3]
    x, y, z = board
    assert (x.wins, x.ties, x.losses, x.battles) == (3, 2, 1, 6)
    assert (y.wins, y.ties, y.losses, y.battles) == (3, 2, 3, 8)
    assert (z.wins, z.ties, z.losses, z.battles) == (0, 0, 2, 2)


def test_intervals_contain_the_estimate_and_shrink_with_more_battles():
    few = {s.name: s for s in leaderboard(record("x", "y", 3, 1), rounds=200, seed=3)}
    many = {s.name: s for s in leaderboard(record("x", "y", 30, 10), rounds=200, seed=3)}
    for board in (few, many):
        for s in board.values():
            assert s.ci_low <= s.rating <= s.ci_high
    for name in ("x", "y"):
        assert many[name].ci_high - many[name].ci_low < few[name].ci_high - few[name].ci_low


def test_same_seed_same_leaderboard():
    battles = record("x", "y", 5, 3, ties=2) + record("y", "z", 4, 4) + record("x", "z", 2, 1)
    assert leaderboard(battles, rounds=80, seed=7) == leaderboard(battles, rounds=80, seed=7)
    other = leaderboard(battles, rounds=80, seed=8)
    assert [s.rating for s in other] == [s.rating for s in leaderboard(battles, rounds=80, seed=7)]


def test_no_battles_no_standings():
    assert leaderboard([]) == []
