"""Consensus per item: majority vote (choices), Borda and Plackett-Luce (rankings), mean and spread (ratings).

Pure module. Each function says what its ``support`` means: the share of the evidence that agrees
with the consensus, in [0, 1]. It becomes the ``weight`` column of consensus-only snapshots.

**Plackett-Luce with tied tiers.** A ranking ``[[a], [b, c], [d]]`` is read as the sequence of choices
"a from {a,b,c,d}", then "b from {b,c,d}" and "c from {b,c,d}" (both members of a tier are chosen
from the same remaining set: Breslow's approximation for tied events, as in the Cox partial
likelihood that Plackett-Luce is), then nothing for the last tier's single member (a choice from a
set of one carries no information). Strengths are fitted with Hunter's (2004) MM algorithm under an
independent Gamma(2, 1) prior on each strength: one pseudo-win against a unit-strength opponent.
Without it a response that every annotator put first has an infinite maximum-likelihood strength and
the iteration never converges; with it the fixed point exists and is unique. Iteration stops when no
log-strength moves by more than ``tol``, or after ``max_iter`` rounds (``converged`` says which).
Reported strengths are normalised to sum to 1: the probability that each response is ranked first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import fmean, pstdev

from curation.stats.labels import FIRST, SECOND, TIE

Ranking = Sequence[Sequence[int]]  # tiers, best first


@dataclass(frozen=True)
class Vote:
    label: str | None  # None when the top labels have equal votes (a split item has no consensus)
    votes: int  # answers for the winning label
    answers: int

    @property
    def support(self) -> float:
        return self.votes / self.answers if self.answers and self.label is not None else 0.0


def majority_vote(values: Sequence[str]) -> Vote:
    counts = Counter(values).most_common()
    if not counts:
        return Vote(None, 0, 0)
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return Vote(None, counts[0][1], len(values))
    return Vote(counts[0][0], counts[0][1], len(values))


def borda(rankings: Sequence[Ranking]) -> dict[int, float]:
    """Borda points summed over rankings: a response gets 1 per response below it and 1/2 per response
    tied with it (the usual tie rule, so every ranking hands out the same K(K-1)/2 points)."""
    points: dict[int, float] = {}
    for ranking in rankings:
        below = sum(len(tier) for tier in ranking)
        for tier in ranking:
            below -= len(tier)
            for rid in tier:
                points[rid] = points.get(rid, 0.0) + below + (len(tier) - 1) / 2
    return points


@dataclass(frozen=True)
class PlackettLuce:
    strengths: dict[int, float]  # normalised to sum 1
    iterations: int
    converged: bool


PRIOR_SHAPE, PRIOR_RATE = 2.0, 1.0


def plackett_luce(rankings: Sequence[Ranking], *, max_iter: int = 1000, tol: float = 1e-9) -> PlackettLuce:
    items = sorted({rid for ranking in rankings for tier in ranking for rid in tier})
    if not items:
        return PlackettLuce({}, 0, True)
    # Choice events: (chooser, remaining set). Breslow: every member of a tier chooses from the same set.
    events: list[tuple[int, tuple[int, ...]]] = []
    for ranking in rankings:
        remaining = [rid for tier in ranking for rid in tier]
        for tier in ranking:
            choice_set = tuple(remaining)
            if len(choice_set) > 1:
                events.extend((rid, choice_set) for rid in tier)
            remaining = [rid for rid in remaining if rid not in tier]
    wins = Counter(rid for rid, _ in events)
    gamma = dict.fromkeys(items, 1.0)
    iterations, converged = 0, False
    while iterations < max_iter:
        iterations += 1
        denominator = dict.fromkeys(items, PRIOR_RATE)
        for _, choice_set in events:
            share = 1.0 / sum(gamma[rid] for rid in choice_set)
            for rid in choice_set:
                denominator[rid] += share
        updated = {rid: (PRIOR_SHAPE - 1 + wins[rid]) / denominator[rid] for rid in items}
        moved = max(abs(math.log(updated[rid]) - math.log(gamma[rid])) for rid in items)
        gamma = updated
        if moved < tol:
            converged = True
            break
    total = sum(gamma.values())
    return PlackettLuce({rid: g / total for rid, g in gamma.items()}, iterations, converged)


@dataclass(frozen=True)
class RankingConsensus:
    tiers: list[list[int]]  # the aggregate ranking, best first
    borda: dict[int, float]
    strengths: dict[int, float]  # Plackett-Luce
    support: float  # share of (judgment, response pair) answers that agree with the aggregate on that pair
    converged: bool


def _pair_relation(tiers: Mapping[int, int], a: int, b: int) -> str:
    if tiers[a] == tiers[b]:
        return TIE
    return FIRST if tiers[a] < tiers[b] else SECOND


def ranking_consensus(rankings: Sequence[Ranking], *, rel_tol: float = 1e-6) -> RankingConsensus:
    """Order by Plackett-Luce strength; Borda breaks near-equal strengths; equal on both is a tie."""
    fit = plackett_luce(rankings)
    points = borda(rankings)
    ordered = sorted(fit.strengths, key=lambda rid: (-fit.strengths[rid], -points[rid], rid))
    tiers: list[list[int]] = []
    for rid in ordered:
        if tiers:
            last = tiers[-1][-1]
            same = math.isclose(fit.strengths[rid], fit.strengths[last], rel_tol=rel_tol)
            if same and math.isclose(points[rid], points[last]):
                tiers[-1].append(rid)
                continue
        tiers.append([rid])
    aggregate = {rid: n for n, tier in enumerate(tiers) for rid in tier}
    agree = total = 0
    for ranking in rankings:
        own = {rid: n for n, tier in enumerate(ranking) for rid in tier}
        for a, b in combinations(sorted(own), 2):
            total += 1
            agree += _pair_relation(own, a, b) == _pair_relation(aggregate, a, b)
    return RankingConsensus(
        tiers=tiers,
        borda=points,
        strengths=fit.strengths,
        support=agree / total if total else 0.0,
        converged=fit.converged,
    )


@dataclass(frozen=True)
class AspectSummary:
    mean: float
    spread: float  # population standard deviation: 0 for a single rating, not undefined
    count: int


def rating_consensus(answers: Sequence[Mapping[str, int]]) -> dict[str, AspectSummary]:
    """Mean and spread per aspect over the answers that rated it (a missing rating is not a zero)."""
    aspects = sorted({name for answer in answers for name in answer})
    summary = {}
    for name in aspects:
        scores = [float(answer[name]) for answer in answers if name in answer]
        summary[name] = AspectSummary(mean=fmean(scores), spread=pstdev(scores), count=len(scores))
    return summary


def rating_support(summary: Mapping[str, AspectSummary], scales: Mapping[str, tuple[int, int]]) -> float:
    """1 - mean over aspects of spread / half the scale's range, floored at 0: 1 when raters agree exactly."""
    parts = []
    for name, aspect in summary.items():
        low, high = scales.get(name, (0, 0))
        if high > low:
            parts.append(max(0.0, 1 - aspect.spread / ((high - low) / 2)))
    return fmean(parts) if parts else 0.0
