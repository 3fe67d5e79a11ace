"""Held-out reward metrics, table-driven on plain numbers."""

from __future__ import annotations

import pytest

from ml.metrics import expected_calibration_error, reward_eval, sigmoid


def test_sigmoid_is_stable_at_the_extremes():
    assert sigmoid(0.0) == 0.5
    assert sigmoid(1000.0) == 1.0
    assert sigmoid(-1000.0) == 0.0
    assert sigmoid(2.0) + sigmoid(-2.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("chosen", "rejected", "accuracy", "mean_margin"),
    [
        ([1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 1.0], 0.75, 1.25),
        ([0.0, 0.0], [1.0, 1.0], 0.0, -1.0),
        ([0.3, 0.3], [0.3, 0.3], 0.0, 0.0),  # equal scores are not a correct preference
    ],
)
def test_accuracy_without_ties(chosen, rejected, accuracy, mean_margin):
    result = reward_eval(chosen, rejected, [False] * len(chosen))
    assert result.accuracy == pytest.approx(accuracy)
    assert result.mean_margin == pytest.approx(mean_margin)
    assert result.ties == 0
    assert result.accuracy_with_ties == result.accuracy  # no human ties: the same number


def test_accuracy_with_ties_matches_ties_only_inside_the_band():
    # deltas: +2 (right), -2 (wrong), 0.05 (tie predicted, human tie: hit), +2 (human tie, model sure: miss)
    chosen = [2.0, 0.0, 0.05, 2.0]
    rejected = [0.0, 2.0, 0.0, 0.0]
    ties = [False, False, True, True]
    result = reward_eval(chosen, rejected, ties, tie_band=0.05)
    assert result.pairs == 4
    assert result.ties == 2
    assert result.accuracy == pytest.approx(0.5)  # over the two preferences
    assert result.accuracy_with_ties == pytest.approx(2 / 4)


def test_a_preference_inside_the_tie_band_is_not_a_hit_with_ties():
    result = reward_eval([0.01, 3.0], [0.0, 0.0], [False, True], tie_band=0.05)
    assert result.accuracy == 1.0
    assert result.accuracy_with_ties == 0.0


def test_only_ties_leaves_preference_metrics_empty():
    result = reward_eval([0.0], [0.0], [True])
    assert result.accuracy is None
    assert result.ece is None
    assert result.accuracy_with_ties == 1.0


def test_no_pairs():
    assert reward_eval([], [], []).accuracy is None


def test_brier_and_ece_of_an_undecided_model():
    result = reward_eval([0.0] * 4, [0.0] * 4, [False] * 4)
    assert result.brier == pytest.approx(0.25)
    assert result.ece == pytest.approx(0.5)  # confidence 0.5, never right (ties of scores count as wrong)


def test_ece_is_zero_when_confidence_matches_accuracy():
    # 0.75 confident on 4 predictions, 3 right
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.95, 0.95], [False, False]) == pytest.approx(0.95)


def test_brier_is_the_mean_squared_miss_of_the_chosen_probability():
    chosen, rejected = [1.0, -0.5, 2.0], [0.0, 0.0, 0.5]
    result = reward_eval(chosen, rejected, [False] * 3)
    expected = sum((1 - sigmoid(c - r)) ** 2 for c, r in zip(chosen, rejected, strict=True)) / 3
    assert result.brier == pytest.approx(expected)
    assert result.accuracy == pytest.approx(2 / 3)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="same length"):
        reward_eval([1.0], [0.0, 1.0], [False])
