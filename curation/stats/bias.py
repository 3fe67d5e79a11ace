"""Position and length bias: do annotators favour the response shown first, or the longer one?

Pure module. Both leak straight into reward models (a model learns "longer is better" if the labels
say so), so they are reported per annotator and overall, each as a ``Proportion`` (rate, Wilson
interval, exact binomial test against the rate expected without the bias).

- **Position**, pairwise: among judgments that name a winner, how often the winner is the response
  shown first (``Judgment.display_order[0]``); expected 0.5 (orders are shuffled per assignment).
  Ranking: how often the first-shown response is in the top tier; expected is the mean of
  ``|top tier| / K`` over those judgments (1/K without ties).
- **Length**, pairwise: among judgments that name a winner between responses of different length
  (characters), how often the longer one wins; expected 0.5. "By how much" is given twice: the mean
  of ``log(len(chosen) / len(rejected))`` (0 = no preference; log 2 = chosen responses are twice as
  long on average, as a geometric mean) and the win rate within bins of relative length difference
  ``|a - b| / max(a, b)``, which shows whether the effect grows with the gap. Ranking: how often the
  unique longest response is in the top tier (expected as for position). Rating: Spearman's rank
  correlation between a response's length and the judgment's mean normalised score.

Each judgment is one observation (never the K(K-1)/2 pairs of a ranking, which are not independent),
so the intervals and p-values mean what they say.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean

from curation.stats.facts import JudgmentFact
from curation.stats.labels import ranking_tiers, rating_scores
from curation.stats.proportions import Proportion, proportion

# Upper edges of the relative length-difference bins, as shares of the longer response.
LENGTH_BINS = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class LengthBin:
    label: str
    k: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None


@dataclass(frozen=True)
class BiasStats:
    position: Proportion | None = None
    longer_wins: Proportion | None = None
    mean_log_length_ratio: float | None = None
    length_bins: list[LengthBin] = field(default_factory=list)
    length_correlation: float | None = None  # ratings: Spearman's rho, length vs score
    length_correlation_p: float | None = None
    length_correlation_n: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "position": self.position.as_dict() if self.position else None,
            "longer_wins": self.longer_wins.as_dict() if self.longer_wins else None,
            "mean_log_length_ratio": self.mean_log_length_ratio,
            "length_bins": [{"label": b.label, "k": b.k, "n": b.n, "rate": b.rate} for b in self.length_bins],
            "length_correlation": self.length_correlation,
            "length_correlation_p": self.length_correlation_p,
            "length_correlation_n": self.length_correlation_n,
        }


def _bin_label(n: int) -> str:
    low = 0.0 if n == 0 else LENGTH_BINS[n - 1]
    return f"{round(low * 100)}-{round(LENGTH_BINS[n] * 100)}%"


def _pairwise(facts: Sequence[JudgmentFact]) -> BiasStats:
    first = shown = 0
    longer = decided = 0
    log_ratios: list[float] = []
    bins = [[0, 0] for _ in LENGTH_BINS]
    for fact in facts:
        preferred = fact.payload.get("preferred")
        if fact.payload.get("outcome") != "preferred" or preferred is None:
            continue
        if len(fact.display_order) == 2:
            shown += 1
            first += preferred == fact.display_order[0]
        rejected = fact.payload.get("rejected")
        chosen_len, rejected_len = fact.lengths.get(int(preferred)), fact.lengths.get(int(rejected or -1))
        if chosen_len is None or rejected_len is None or chosen_len == rejected_len:
            continue
        decided += 1
        won = chosen_len > rejected_len
        longer += won
        if chosen_len > 0 and rejected_len > 0:
            log_ratios.append(math.log(chosen_len / rejected_len))
        gap = abs(chosen_len - rejected_len) / max(chosen_len, rejected_len)
        slot = next(n for n, edge in enumerate(LENGTH_BINS) if gap <= edge or n == len(LENGTH_BINS) - 1)
        bins[slot][0] += won
        bins[slot][1] += 1
    return BiasStats(
        position=proportion(first, shown),
        longer_wins=proportion(longer, decided),
        mean_log_length_ratio=fmean(log_ratios) if log_ratios else None,
        length_bins=[LengthBin(_bin_label(n), k, total) for n, (k, total) in enumerate(bins)],
    )


def _top_share(events: Iterable[tuple[bool, float]]) -> Proportion | None:
    """``(is in the top tier, chance of that without bias)`` events -> proportion vs the mean chance."""
    listed = list(events)
    if not listed:
        return None
    return proportion(sum(hit for hit, _ in listed), len(listed), expected=fmean(p for _, p in listed))


def _ranking(facts: Sequence[JudgmentFact]) -> BiasStats:
    position: list[tuple[bool, float]] = []
    length: list[tuple[bool, float]] = []
    for fact in facts:
        tiers = ranking_tiers(fact.payload)
        ranked = fact.payload.get("ranking") or [[]]
        k = len(tiers)
        if k < 2:
            continue
        chance = len(ranked[0]) / k
        if fact.display_order and fact.display_order[0] in tiers:
            position.append((tiers[fact.display_order[0]] == 0, chance))
        lengths = sorted(((fact.lengths.get(rid, -1), rid) for rid in tiers), reverse=True)
        if lengths[0][0] >= 0 and lengths[0][0] != lengths[1][0]:
            length.append((tiers[lengths[0][1]] == 0, chance))
    return BiasStats(position=_top_share(position), longer_wins=_top_share(length))


def _rating(facts: Sequence[JudgmentFact], scales: Mapping[str, tuple[int, int]]) -> BiasStats:
    xs: list[float] = []
    ys: list[float] = []
    for fact in facts:
        scores = rating_scores(fact.payload)
        parts = [(s - scales[n][0]) / (scales[n][1] - scales[n][0]) for n, s in scores.items() if n in scales]
        response = fact.payload.get("response")
        if parts and response is not None and int(response) in fact.lengths:
            xs.append(float(fact.lengths[int(response)]))
            ys.append(fmean(parts))
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return BiasStats(length_correlation_n=len(xs))  # a constant has no rank correlation
    from scipy.stats import spearmanr  # lazily: see curation.stats.agreement

    result = spearmanr(xs, ys)
    return BiasStats(
        length_correlation=float(result.statistic),
        length_correlation_p=float(result.pvalue),
        length_correlation_n=len(xs),
    )


def bias_stats(facts: Sequence[JudgmentFact], *, scales: Mapping[str, tuple[int, int]] | None = None) -> BiasStats:
    """Bias over ``facts`` (one task kind). Gold items are quality checks; callers leave them out."""
    if not facts:
        return BiasStats()
    kind = facts[0].kind
    if kind == "pairwise":
        return _pairwise(facts)
    if kind == "ranking":
        return _ranking(facts)
    if kind == "rating":
        return _rating(facts, scales or {})
    return BiasStats()


@dataclass(frozen=True)
class BiasReport:
    overall: BiasStats
    per_annotator: dict[int, BiasStats]


def bias_report(facts: Sequence[JudgmentFact], *, scales: Mapping[str, tuple[int, int]] | None = None) -> BiasReport:
    by_annotator: dict[int, list[JudgmentFact]] = defaultdict(list)
    for fact in facts:
        by_annotator[fact.annotator_id].append(fact)
    return BiasReport(
        overall=bias_stats(facts, scales=scales),
        per_annotator={a: bias_stats(own, scales=scales) for a, own in sorted(by_annotator.items())},
    )
