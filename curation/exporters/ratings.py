"""Ratings -> pairs and KTO labels, aggregated per prompt.

Pure module. Each rating judgment is reduced to one number in [0, 1]: the mean over the aspects it
scored of ``(score - min) / (max - min)`` (aspects no longer in the project's config are ignored).
Several annotators may rate one response, so responses are compared on the mean of those numbers:

- pairs: every two responses to the same prompt whose means differ by at least
  ``rating_pair_min_gap`` (default 0.25, i.e. 1.5 points on a 1-7 scale) give a ``rating`` pair,
  the higher mean chosen, margin from the difference (see exporters.trl);
- KTO: every rated response gives one row, ``label = mean >= rating_label_threshold`` (default 0.5,
  the middle of the scale counts as desirable).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from curation.exporters.records import AspectScale, ExportContext, JudgmentRecord
from curation.exporters.trl import RATING, Pair, gap_margin, unpaired_row

# Float sums of fractions: a gap of exactly the threshold must not miss by rounding.
_EPSILON = 1e-9


def normalised_mean(ratings: Mapping[str, Any], aspects: Mapping[str, AspectScale]) -> float | None:
    """Mean of the rated aspects on [0, 1], or None when no known aspect was scored."""
    values = []
    for name, entry in ratings.items():
        scale = aspects.get(name)
        if scale is None or not isinstance(entry, Mapping) or entry.get("score") is None:
            continue
        # float: a consensus record carries mean scores (exporters.consensus); judgments carry ints.
        score = min(max(float(entry["score"]), scale.min), scale.max)
        values.append((score - scale.min) / (scale.max - scale.min))
    return sum(values) / len(values) if values else None


@dataclass
class _Rated:
    text: str
    record: JudgmentRecord  # any judgment of this prompt: carries the prompt for the row
    total: float = 0.0
    count: int = 0
    weight: float | None = None  # consensus-only snapshots: the least weight among its records

    @property
    def mean(self) -> float:
        return self.total / self.count


@dataclass
class PromptRatings:
    """The ratings of one prompt's responses, collected while streaming that prompt's judgments."""

    by_response: dict[int, _Rated] = field(default_factory=dict)

    def add(self, record: JudgmentRecord, ctx: ExportContext) -> None:
        if record.kind != "rating":
            return
        value = normalised_mean(record.payload.get("ratings", {}), ctx.aspects)
        response = record.responses.get(int(record.payload.get("response", -1)))
        if value is None or response is None:
            return
        rated = self.by_response.setdefault(response.id, _Rated(text=response.text, record=record))
        rated.total += value
        rated.count += 1
        if record.weight is not None:
            rated.weight = record.weight if rated.weight is None else min(rated.weight, record.weight)

    def pairs(self, ctx: ExportContext) -> Iterator[tuple[JudgmentRecord, Pair]]:
        min_gap = ctx.options.rating_pair_min_gap
        ordered = sorted(self.by_response.items())  # by response id: the same rows in the same order every time
        for (_, a), (_, b) in combinations(ordered, 2):
            gap = a.mean - b.mean
            if abs(gap) + _EPSILON < min_gap:
                continue
            better, worse = (a, b) if gap > 0 else (b, a)
            # A pair is as certain as its less certain side.
            weight = min((w for w in (a.weight, b.weight) if w is not None), default=None)
            margin = gap_margin(abs(gap), ctx.options.margin)
            yield better.record, Pair(better.text, worse.text, margin, RATING, weight=weight)

    def unpaired(self, ctx: ExportContext) -> Iterator[dict[str, Any]]:
        threshold = ctx.options.rating_label_threshold
        for _, rated in sorted(self.by_response.items()):
            label = rated.mean + _EPSILON >= threshold
            yield unpaired_row(rated.record, rated.text, label, RATING, ctx, weight=rated.weight)
