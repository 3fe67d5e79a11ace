"""Canonical judgment payloads -> the units and labels that agreement and consensus are computed on.

Pure module. A *unit* is one thing several annotators answered and can agree on:

- pairwise: the item; its label says which response won **by the item's stored order**, not by the
  order on screen (``first`` = the response at position 0). Display order is randomised per
  annotator, so labels by screen side would make two annotators who chose the same response look
  as if they disagreed.
- ranking: every pair of the item's responses (``(item, a, b)`` with ``a`` before ``b`` in the item);
  a ranking with tiers says ``first`` (a above b), ``second`` or ``tie``. This pairwise
  decomposition is how rankings reach the dataset (``curation.exporters.trl`` turns each ranking
  into the same pairs), so agreement measured on it is agreement on the rows that are exported.
- rating: each (item, aspect) is a numeric unit; see ``rating_scores``.
- free text has no unit: two critiques cannot agree or disagree in a measurable way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

FIRST, SECOND, TIE, BOTH_BAD = "first", "second", "tie", "both_bad"
PAIR_LABELS = (FIRST, SECOND, TIE, BOTH_BAD)  # a fixed order: the value domain of the nominal statistics
RANKING_LABELS = (FIRST, SECOND, TIE)
# Labels that name no winner. "Ties excluded" statistics drop them.
NO_DIRECTION = frozenset({TIE, BOTH_BAD})

Unit = tuple[int, int, int]  # (item id, response id at the lower position, response id at the higher)


@dataclass(frozen=True)
class Label:
    """One annotator's categorical answer on one unit."""

    unit: Unit
    annotator: int
    value: str


def pairwise_label(payload: Mapping[str, Any], positions: Sequence[int]) -> str | None:
    """``first``/``second``/``tie``/``both_bad`` for a canonical pairwise payload; None if malformed.

    ``positions`` are the item's response ids in stored order.
    """
    outcome = payload.get("outcome")
    if outcome == "tie":
        return TIE
    if outcome == "both_bad":
        return BOTH_BAD
    if outcome == "preferred" and len(positions) == 2:
        preferred = payload.get("preferred")
        if preferred == positions[0]:
            return FIRST
        if preferred == positions[1]:
            return SECOND
    return None


def ranking_tiers(payload: Mapping[str, Any]) -> dict[int, int]:
    """Response id -> tier index (0 = best) of a canonical ranking payload."""
    return {int(rid): tier for tier, members in enumerate(payload.get("ranking", [])) for rid in members}


def ranking_pair_labels(payload: Mapping[str, Any], positions: Sequence[int]) -> list[tuple[int, int, str]]:
    """``(a, b, label)`` for every pair of the item's responses, ``a`` before ``b`` in the item."""
    tiers = ranking_tiers(payload)
    labels = []
    for a, b in combinations(positions, 2):
        if a not in tiers or b not in tiers:
            continue  # a ranking that does not name every response is malformed; skip, do not guess
        if tiers[a] == tiers[b]:
            labels.append((a, b, TIE))
        else:
            labels.append((a, b, FIRST if tiers[a] < tiers[b] else SECOND))
    return labels


def categorical_labels(
    *, kind: str, item_id: int, annotator_id: int, payload: Mapping[str, Any], positions: Sequence[int]
) -> list[Label]:
    """The labels one judgment contributes (none for ratings and free text)."""
    if kind == "pairwise" and len(positions) == 2:
        value = pairwise_label(payload, positions)
        return [] if value is None else [Label((item_id, positions[0], positions[1]), annotator_id, value)]
    if kind == "ranking":
        return [Label((item_id, a, b), annotator_id, value) for a, b, value in ranking_pair_labels(payload, positions)]
    return []


def rating_scores(payload: Mapping[str, Any]) -> dict[str, int]:
    """Aspect -> score of a canonical rating payload. Aspects left unrated (optional ones) are absent:
    a missing rating is missing data, never a zero."""
    scores = {}
    for name, entry in payload.get("ratings", {}).items():
        if isinstance(entry, Mapping) and isinstance(entry.get("score"), int | float):
            scores[str(name)] = int(entry["score"])
    return scores
