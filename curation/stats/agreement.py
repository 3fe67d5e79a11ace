"""Inter-annotator agreement: percent agreement, Krippendorff's alpha and Fleiss' kappa.

Pure module. Inputs are *groups*: the answers that several annotators gave on one unit (see
``curation.stats.labels`` for what a unit is per task kind). Definitions:

- **percent agreement** of a unit with ``n`` answers = agreeing annotator pairs / all ``n(n-1)/2``
  pairs; a project's value is the mean over units with at least two answers (each unit counts once,
  which equals Fleiss' observed agreement P̄ when every unit has the same number of answers).
  *Ties counted*: a tie (and both-bad) is one more label, two ties agree. *Ties excluded*: those
  answers are dropped first, so the value says how often annotators who picked a winner picked the
  same one; units left with fewer than two answers drop out.
- **Krippendorff's alpha** from the ``krippendorff`` package, computed from per-unit value counts
  (it handles any number of answers per unit, and missing answers). Nominal for choices and ranking
  pairs; ordinal and interval for ratings, on the aspect's whole scale.
- **Fleiss' kappa** from ``statsmodels``. It assumes every unit has the same number of raters, so it
  is computed on the units that have the most common number of answers (at least two); the count
  used is reported beside it.

Every statistic is ``None`` where it is undefined rather than a misleading number: no unit with two
answers (one annotator), or no variation at all (everyone gave the same label, e.g. all ties: alpha
and kappa are 0/0 there, whatever the library would print).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Literal

from curation.stats.labels import NO_DIRECTION, Label, Unit

# scipy, statsmodels, krippendorff and numpy are imported where they are used: at module level they
# cost every web and worker process ~140 MB and ~1 s (BENCHMARKS.md, export RSS), and most never compute agreement.
if TYPE_CHECKING:
    import numpy as np

Level = Literal["nominal", "ordinal", "interval"]
NOMINAL: Level = "nominal"
ORDINAL: Level = "ordinal"
INTERVAL: Level = "interval"


@dataclass(frozen=True)
class Agreement:
    units: int  # units with at least two answers
    answers: int  # answers on those units
    percent: float | None
    percent_no_ties: float | None  # None for ratings: a rating has no tie
    alpha: Mapping[str, float | None] = field(default_factory=dict)  # level of measurement -> alpha
    fleiss_kappa: float | None = None
    fleiss_units: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "units": self.units,
            "answers": self.answers,
            "percent": self.percent,
            "percent_no_ties": self.percent_no_ties,
            "alpha": dict(self.alpha),
            "fleiss_kappa": self.fleiss_kappa,
            "fleiss_units": self.fleiss_units,
        }


def unit_percent(values: Sequence[Hashable]) -> float | None:
    """Share of agreeing annotator pairs on one unit; None with fewer than two answers."""
    n = len(values)
    if n < 2:
        return None
    agreeing = sum(c * (c - 1) // 2 for c in Counter(values).values())
    return agreeing / (n * (n - 1) / 2)


def unit_percent_no_ties(values: Sequence[str]) -> float | None:
    return unit_percent([v for v in values if v not in NO_DIRECTION])


def percent_agreement(groups: Iterable[Sequence[Hashable]]) -> float | None:
    scores = [s for s in (unit_percent(g) for g in groups) if s is not None]
    return sum(scores) / len(scores) if scores else None


def _value_counts(groups: Sequence[Sequence[Hashable]], domain: Sequence[Hashable]) -> np.ndarray:
    index = {value: n for n, value in enumerate(domain)}
    import numpy as np

    counts = np.zeros((len(groups), len(domain)), dtype=np.float64)  # (units, values)
    for row, group in enumerate(groups):
        for value in group:
            counts[row, index[value]] += 1
    return counts


def _pairable(groups: Iterable[Sequence[Hashable]]) -> list[Sequence[Hashable]]:
    return [g for g in groups if len(g) >= 2]


def krippendorff_alpha(groups: Iterable[Sequence[Hashable]], domain: Sequence[Hashable], level: Level) -> float | None:
    """Alpha over ``groups`` whose values lie in ``domain`` (ordered, for ordinal and interval)."""
    pairable = _pairable(groups)
    if not pairable or len({v for g in pairable for v in g}) < 2:
        return None  # one annotator, or no variation: alpha is 0/0
    import krippendorff
    import numpy as np

    if level == NOMINAL:
        # Nominal distances ignore the values themselves, so categories are passed as column indices.
        value = krippendorff.alpha(
            value_counts=_value_counts(pairable, domain), level_of_measurement=NOMINAL, value_domain=None
        )
    else:
        value = krippendorff.alpha(
            value_counts=_value_counts(pairable, domain),
            value_domain=np.asarray(domain, dtype=np.float64),
            level_of_measurement=level,
        )
    return None if math.isnan(value) else float(value)


def fleiss_kappa(groups: Iterable[Sequence[Hashable]], domain: Sequence[Hashable]) -> tuple[float | None, int]:
    """(kappa, units used): computed on the units with the most common number of answers."""
    pairable = _pairable(groups)
    if not pairable:
        return None, 0
    sizes = Counter(len(g) for g in pairable)
    # The most common size; on a tie the larger one, whose units carry more information each.
    size = max(sizes, key=lambda s: (sizes[s], s))
    used = [g for g in pairable if len(g) == size]
    table = _value_counts(used, domain)
    marginal = table.sum(axis=0) / table.sum()
    if math.isclose(float((marginal**2).sum()), 1.0):
        return None, len(used)  # everyone used one category: chance agreement is 1, kappa is 0/0
    from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss_kappa

    return float(_fleiss_kappa(table, method="fleiss")), len(used)


def group_labels(labels: Iterable[Label]) -> dict[Unit, list[str]]:
    groups: dict[Unit, list[str]] = defaultdict(list)
    for label in labels:
        groups[label.unit].append(label.value)
    return groups


def categorical_agreement(labels: Iterable[Label], domain: Sequence[str]) -> Agreement:
    """Agreement of pairwise choices or ranking pairs (labels from ``curation.stats.labels``)."""
    groups = list(group_labels(labels).values())
    pairable = _pairable(groups)
    no_ties = [[v for v in g if v not in NO_DIRECTION] for g in pairable]
    kappa, kappa_units = fleiss_kappa(pairable, domain)
    return Agreement(
        units=len(pairable),
        answers=sum(len(g) for g in pairable),
        percent=percent_agreement(pairable),
        percent_no_ties=percent_agreement(no_ties),
        alpha={NOMINAL: krippendorff_alpha(pairable, domain, NOMINAL)},
        fleiss_kappa=kappa,
        fleiss_units=kappa_units,
    )


def numeric_agreement(groups: Iterable[Sequence[int]], *, low: int, high: int) -> Agreement:
    """Agreement of one rating aspect on the scale ``low..high``: exact percent, ordinal and interval
    alpha, and Fleiss' kappa over the scale points as categories."""
    domain = list(range(low, high + 1))
    pairable = [list(g) for g in _pairable(groups)]
    kappa, kappa_units = fleiss_kappa(pairable, domain)
    return Agreement(
        units=len(pairable),
        answers=sum(len(g) for g in pairable),
        percent=percent_agreement(pairable),
        percent_no_ties=None,
        alpha={
            ORDINAL: krippendorff_alpha(pairable, domain, ORDINAL),
            INTERVAL: krippendorff_alpha(pairable, domain, INTERVAL),
        },
        fleiss_kappa=kappa,
        fleiss_units=kappa_units,
    )


@dataclass(frozen=True)
class ItemScore:
    """Per-item agreement, stored so snapshots can filter on it; None with fewer than two answers."""

    agreement: float | None
    agreement_no_ties: float | None


def item_categorical_score(labels: Iterable[Label]) -> ItemScore:
    """Mean percent agreement over the item's units (one unit for pairwise, K(K-1)/2 for rankings)."""
    groups = list(group_labels(labels).values())
    counted = [s for s in (unit_percent(g) for g in groups) if s is not None]
    excluded = [s for s in (unit_percent_no_ties(g) for g in groups) if s is not None]
    return ItemScore(
        agreement=sum(counted) / len(counted) if counted else None,
        agreement_no_ties=sum(excluded) / len(excluded) if excluded else None,
    )


def item_rating_score(answers: Sequence[Mapping[str, int]], scales: Mapping[str, tuple[int, int]]) -> ItemScore:
    """``1 - mean |a - b| / (max - min)`` over annotator pairs, averaged over the aspects that at
    least two annotators rated: 1 when all agree exactly, 0 when pairs sit at opposite ends."""
    per_aspect = []
    for name, (low, high) in scales.items():
        scores = [a[name] for a in answers if name in a]
        if len(scores) < 2 or high <= low:
            continue
        gaps = [abs(x - y) / (high - low) for x, y in combinations(scores, 2)]
        per_aspect.append(1 - sum(gaps) / len(gaps))
    value = sum(per_aspect) / len(per_aspect) if per_aspect else None
    return ItemScore(agreement=value, agreement_no_ties=value)
