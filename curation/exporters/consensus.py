"""Consensus-only snapshots: each item's judgments -> one consensus record with a weight.

Pure module. Precondition: records come grouped by item (the selector orders by prompt, then item).
Each item's judgments pass through as ``evidence`` (they still make the raw table, so every consensus
row can be traced to what annotators said), followed by one ``consensus`` record that the training
tables are built from, carrying ``weight`` in [0, 1]:

- an adjudicated item: the adjudicator's answer, weight 1;
- pairwise: the majority label of the item's (filtered) judgments, weight = its vote share; a split
  vote has no consensus and gives no training row. The strength is the median strength level of the
  judgments that voted for the winner (the lower middle one for an even count);
- ranking: the Plackett-Luce aggregate (``curation.stats.consensus``), weight = share of pairwise
  answers that agree with it;
- rating: the mean score per aspect, weight = 1 - spread / half the scale (``rating_support``);
- free text has no consensus: each judgment passes through unchanged with weight 1.

The consensus is computed from the judgments the snapshot's filters kept, at export time, so a
snapshot that excludes flagged annotators or rejected judgments gets a consensus without them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from itertools import groupby
from statistics import median_low
from typing import Any

from curation.answers import canonical_payload
from curation.exporters.records import JudgmentRecord
from curation.stats.consensus import majority_vote, ranking_consensus, rating_consensus, rating_support
from curation.stats.labels import FIRST, SECOND, pairwise_label, rating_scores

Scales = Mapping[str, tuple[int, int]]


def _positions(record: JudgmentRecord) -> list[int]:
    return [r.id for r in record.responses_by_position()]


def _strength(group: list[JudgmentRecord], preferred: Any) -> int | None:
    levels = [
        int(r.payload["strength_level"])
        for r in group
        if r.payload.get("preferred") == preferred and r.payload.get("strength_level")
    ]
    return median_low(levels) if levels else None


def _consensus(record: JudgmentRecord, payload: Mapping[str, Any], weight: float) -> JudgmentRecord:
    return replace(record, payload=dict(payload), role="consensus", weight=weight, annotator_id=0, display_order=())


def _pairwise(group: list[JudgmentRecord]) -> JudgmentRecord | None:
    positions = _positions(group[0])
    labels = [pairwise_label(r.payload, positions) for r in group]
    vote = majority_vote([label for label in labels if label is not None])
    if vote.label is None:
        return None
    preferred = positions[0] if vote.label == FIRST else positions[1] if vote.label == SECOND else None
    answer = {"outcome": "preferred" if preferred is not None else vote.label, "preferred": preferred}
    payload = canonical_payload("pairwise", answer, response_ids=positions)
    payload["strength_level"] = _strength(group, preferred) if preferred is not None else None
    return _consensus(group[0], payload, vote.support)


def _adjudicated(group: list[JudgmentRecord], answer: Mapping[str, Any]) -> JudgmentRecord:
    positions = _positions(group[0])
    payload = canonical_payload(group[0].kind, answer, response_ids=positions)
    if group[0].kind == "pairwise" and payload.get("preferred") is not None:
        # The adjudicator said which, not by how much: the agreeing annotators' strength, else the weakest.
        payload["strength_level"] = _strength(group, payload["preferred"]) or 1
    return _consensus(group[0], payload, 1.0)


def item_consensus(
    group: list[JudgmentRecord], *, adjudication: Mapping[str, Any] | None, scales: Scales
) -> JudgmentRecord | None:
    """The consensus record of one item's judgments (all of one kind), or None without a consensus."""
    kind = group[0].kind
    if adjudication is not None and kind != "free_text":
        return _adjudicated(group, adjudication)
    if kind == "pairwise":
        return _pairwise(group)
    if kind == "ranking":
        result = ranking_consensus([r.payload.get("ranking", []) for r in group])
        return _consensus(group[0], {"ranking": result.tiers}, result.support)
    if kind == "rating":
        summary = rating_consensus([rating_scores(r.payload) for r in group])
        if not summary:
            return None
        payload = {
            "response": group[0].payload.get("response"),
            "ratings": {name: {"score": aspect.mean, "comment": ""} for name, aspect in summary.items()},
        }
        return _consensus(group[0], payload, rating_support(summary, scales))
    return None


def consensus_records(
    records: Iterable[JudgmentRecord], *, adjudications: Mapping[int, Mapping[str, Any]], scales: Scales
) -> Iterator[JudgmentRecord]:
    for item_id, grouped in groupby(records, key=lambda r: r.item_id):
        group = list(grouped)
        if group[0].kind == "free_text":
            yield from (replace(r, weight=1.0) for r in group)
            continue
        yield from (replace(r, role="evidence") for r in group)
        consensus = item_consensus(group, adjudication=adjudications.get(item_id), scales=scales)
        if consensus is not None:
            yield consensus
