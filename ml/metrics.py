"""Held-out metrics of a Bradley-Terry reward model, from its scores of chosen and rejected responses.

Pure Python on lists of floats: table-tested without a model. For a pair the model's probability that
the chosen response wins is p = sigmoid(r⁺ - r⁻).

- ``accuracy``: share of non-tie pairs with r⁺ > r⁻ (an exact tie of scores counts as wrong).
- ``accuracy_with_ties``: three outcomes. The model predicts a tie when |p - 0.5| < ``tie_band``; a
  human tie is matched only by a predicted tie, a preference only by the right side outside the band.
  With no human ties in the data it equals ``accuracy`` (nothing to predict a tie for).
- ``ece``: expected calibration error of the top-label confidence max(p, 1 - p) against being right,
  over ``bins`` equal bins of [0.5, 1]. Orientation-free: swapping chosen and rejected changes nothing.
- ``brier``: mean of (1 - p)², also orientation-free; 0.25 is a model that always says 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RewardEval:
    pairs: int
    ties: int
    accuracy: float | None  # None when every held-out pair is a tie
    accuracy_with_ties: float | None
    mean_margin: float | None  # mean r⁺ - r⁻ over non-tie pairs
    ece: float | None
    brier: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # no overflow for very negative x
    return z / (1.0 + z)


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE over equal-width bins of [0.5, 1]: Σ (n_b / N) · |accuracy_b - mean confidence_b|."""
    if not confidences:
        raise ValueError("expected_calibration_error needs at least one prediction.")
    totals = [0] * bins
    conf_sum = [0.0] * bins
    right = [0] * bins
    for conf, ok in zip(confidences, correct, strict=True):
        index = min(int((conf - 0.5) * 2 * bins), bins - 1)
        totals[index] += 1
        conf_sum[index] += conf
        right[index] += ok
    n = len(confidences)
    return sum(abs(right[b] / totals[b] - conf_sum[b] / totals[b]) * totals[b] / n for b in range(bins) if totals[b])


def reward_eval(
    chosen: Sequence[float],
    rejected: Sequence[float],
    ties: Sequence[bool],
    *,
    tie_band: float = 0.05,
    bins: int = 10,
) -> RewardEval:
    if not len(chosen) == len(rejected) == len(ties):
        raise ValueError("chosen, rejected and ties must have the same length.")
    deltas = [c - r for c, r in zip(chosen, rejected, strict=True)]
    probs = [sigmoid(d) for d in deltas]
    pref = [i for i, tie in enumerate(ties) if not tie]
    n_ties = len(deltas) - len(pref)
    if not deltas:
        return RewardEval(0, 0, None, None, None, None, None)

    accuracy = mean_margin = ece = brier = None
    if pref:
        correct = [deltas[i] > 0 for i in pref]
        accuracy = sum(correct) / len(pref)
        mean_margin = sum(deltas[i] for i in pref) / len(pref)
        ece = expected_calibration_error([max(probs[i], 1 - probs[i]) for i in pref], correct, bins)
        brier = sum((1 - probs[i]) ** 2 for i in pref) / len(pref)

    if n_ties == 0:
        accuracy_with_ties = accuracy
    else:
        hits = 0
        for delta, p, tie in zip(deltas, probs, ties, strict=True):
            predicted_tie = abs(p - 0.5) < tie_band
            hits += predicted_tie if tie else (not predicted_tie and delta > 0)
        accuracy_with_ties = hits / len(deltas)
    return RewardEval(len(deltas), n_ties, accuracy, accuracy_with_ties, mean_margin, ece, brier)
