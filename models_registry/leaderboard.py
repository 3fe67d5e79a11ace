"""Bradley-Terry leaderboard of checkpoints from pairwise battles. Pure: no ORM, no I/O.

A battle is one human judgment between responses of two different models: ``a`` won, ``b`` won, or a
tie (half a win to each side). Strengths ``theta`` maximise the Bradley-Terry log-likelihood

    sum over battles of  w * log(sigmoid(theta_winner - theta_loser))   (w = 1, or 1/2 per side for a tie)

minus a tiny L2 prior ``prior/2 * sum(theta^2)`` so that a model that never lost keeps a finite
rating. The fit is coordinate-wise Newton (the objective is strictly concave). Ratings are on the Elo
scale, ``400/ln(10)`` points per unit of ``theta``, shifted so that their mean is 1000: a 3:1 record
between two models is a gap of ``400*log10(3)`` (about 191) points.

Confidence intervals come from a percentile bootstrap over battles with a seeded RNG, so the same
battles and seed give the same leaderboard.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

ELO_SCALE = 400.0 / math.log(10.0)
ELO_MEAN = 1000.0
DEFAULT_PRIOR = 0.01
DEFAULT_ROUNDS = 200
MAX_SWEEPS = 500
TOLERANCE = 1e-9
MAX_STEP = 2.0

Outcome = Literal["a", "b", "tie"]


@dataclass(frozen=True)
class Battle:
    """One judgment between a response of model ``a`` and one of model ``b`` (``a != b``)."""

    a: str
    b: str
    outcome: Outcome


@dataclass(frozen=True)
class Standing:
    rank: int
    name: str
    rating: float
    ci_low: float
    ci_high: float
    battles: int
    wins: int
    ties: int
    losses: int


def _pair_wins(battles: Iterable[Battle]) -> dict[tuple[str, str], float]:
    """(winner, loser) -> wins, ties counted as half a win each way."""
    wins: dict[tuple[str, str], float] = defaultdict(float)
    for battle in battles:
        if battle.a == battle.b:
            continue
        if battle.outcome == "a":
            wins[(battle.a, battle.b)] += 1.0
        elif battle.outcome == "b":
            wins[(battle.b, battle.a)] += 1.0
        else:
            wins[(battle.a, battle.b)] += 0.5
            wins[(battle.b, battle.a)] += 0.5
    return wins


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def fit_strengths(
    battles: Iterable[Battle], *, prior: float = DEFAULT_PRIOR, start: dict[str, float] | None = None
) -> dict[str, float]:
    """Bradley-Terry log-strengths (natural scale, mean 0) of every model that appears in ``battles``."""
    if prior <= 0:
        raise ValueError("the prior must be positive so that unbeaten models stay finite")
    wins = _pair_wins(battles)
    players = sorted({p for pair in wins for p in pair})
    if not players:
        return {}
    won: dict[str, float] = defaultdict(float)
    games: dict[str, dict[str, float]] = {p: defaultdict(float) for p in players}
    for (winner, loser), w in wins.items():
        won[winner] += w
        games[winner][loser] += w
        games[loser][winner] += w
    theta = {p: (start or {}).get(p, 0.0) for p in players}
    for _ in range(MAX_SWEEPS):
        before = dict(theta)
        for p in players:
            expected = 0.0
            curvature = prior
            for q, n in games[p].items():
                prob = _sigmoid(theta[p] - theta[q])
                expected += n * prob
                curvature += n * prob * (1.0 - prob)
            gradient = won[p] - expected - prior * theta[p]
            theta[p] += max(-MAX_STEP, min(MAX_STEP, gradient / curvature))
        # The likelihood ignores a common shift and the prior is smallest at mean 0 (where the optimum
        # lies): centering after each sweep removes the one direction coordinate steps crawl along.
        mean = sum(theta.values()) / len(players)
        theta = {p: t - mean for p, t in theta.items()}
        if max(abs(theta[p] - before[p]) for p in players) < TOLERANCE:
            break
    return theta


def elo_ratings(battles: Iterable[Battle], *, prior: float = DEFAULT_PRIOR) -> dict[str, float]:
    """Elo-scaled Bradley-Terry ratings with mean 1000."""
    return {p: ELO_MEAN + ELO_SCALE * t for p, t in fit_strengths(battles, prior=prior).items()}


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values, ``q`` in [0, 1]."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def leaderboard(
    battles: Sequence[Battle],
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    prior: float = DEFAULT_PRIOR,
    confidence: float = 0.95,
) -> list[Standing]:
    """Standings, best first: rating, a bootstrap confidence interval, battles and the record of each model.

    Each bootstrap round draws ``len(battles)`` battles with replacement and refits; a model missing
    from a round contributes no sample to it. The interval always contains the point estimate (it is
    widened to it in the rare case a percentile interval misses it).
    """
    battles = [b for b in battles if b.a != b.b]
    theta = fit_strengths(battles, prior=prior)
    record: dict[str, list[int]] = {p: [0, 0, 0] for p in theta}  # wins, ties, losses
    for battle in battles:
        if battle.outcome == "tie":
            record[battle.a][1] += 1
            record[battle.b][1] += 1
        else:
            winner, loser = (battle.a, battle.b) if battle.outcome == "a" else (battle.b, battle.a)
            record[winner][0] += 1
            record[loser][2] += 1

    samples: dict[str, list[float]] = {p: [] for p in theta}
    rng = random.Random(seed)  # noqa: S311  # nosec B311 (statistics, not security: seeded for reproducibility)
    if battles:
        for _ in range(rounds):
            drawn = rng.choices(battles, k=len(battles))
            for p, t in fit_strengths(drawn, prior=prior, start=theta).items():
                samples[p].append(ELO_MEAN + ELO_SCALE * t)

    tail = (1.0 - confidence) / 2.0
    rows: list[tuple[str, float, float, float]] = []
    for p, t in theta.items():
        rating = ELO_MEAN + ELO_SCALE * t
        values = sorted(samples[p])
        low, high = (_percentile(values, tail), _percentile(values, 1.0 - tail)) if values else (rating, rating)
        rows.append((p, rating, min(low, rating), max(high, rating)))
    rows.sort(key=lambda row: (-row[1], row[0]))
    return [
        Standing(
            rank=n,
            name=name,
            rating=rating,
            ci_low=low,
            ci_high=high,
            battles=sum(record[name]),
            wins=record[name][0],
            ties=record[name][1],
            losses=record[name][2],
        )
        for n, (name, rating, low, high) in enumerate(rows, start=1)
    ]
