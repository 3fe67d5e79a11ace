"""One project's judgments -> every quality statistic at once: what the recompute task stores.

Pure module: the service hands in ``JudgmentFact`` rows and writes the returned report.

What each part reads (and why):

- agreement, per-item scores, consensus and dataset bias use judgments that no review rejected:
  a rejected judgment is kept in the raw record but is not evidence about the item;
- annotator reliability reads every judgment of the annotator, rejected ones included: they are
  evidence about the annotator;
- per-item agreement and consensus include gold items (they are items); bias and agreement with
  others leave gold out (it is a test, served more often and not data).

Pairwise consensus is Dawid-Skene's most probable label once the project has enough overlap
(``curation.stats.dawid_skene.has_enough_overlap``), with its posterior as the support; below that,
or when EM did not converge, the majority vote with its vote share.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from curation.stats.agreement import (
    Agreement,
    categorical_agreement,
    item_categorical_score,
    item_rating_score,
    numeric_agreement,
)
from curation.stats.bias import BiasReport, bias_report
from curation.stats.consensus import (
    majority_vote,
    ranking_consensus,
    rating_consensus,
    rating_support,
)
from curation.stats.dawid_skene import DawidSkene, dawid_skene, has_enough_overlap
from curation.stats.facts import JudgmentFact
from curation.stats.labels import (
    FIRST,
    PAIR_LABELS,
    RANKING_LABELS,
    SECOND,
    Label,
    categorical_labels,
    rating_scores,
)
from curation.stats.reliability import Reliability, Thresholds, annotator_reliability

Scales = Mapping[str, tuple[int, int]]  # rating aspect -> (min, max)
OVERALL = "all"


@dataclass(frozen=True)
class ItemQuality:
    item_id: int
    judgments: int
    agreement: float | None
    agreement_no_ties: float | None
    consensus: dict[str, Any] | None  # kind-specific JSON, see _pairwise_item / _ranking_item / _rating_item
    support: float | None
    method: str
    last_judgment_at: datetime


@dataclass(frozen=True)
class QualityReport:
    kind: str
    judgments: int
    agreement: dict[str, Agreement]  # OVERALL for choices and rankings, else one entry per aspect
    items: list[ItemQuality]
    annotators: list[Reliability]
    bias: BiasReport
    model: dict[str, Any] = field(default_factory=dict)  # Dawid-Skene run: iterations, converged, priors


def _labels(facts: Sequence[JudgmentFact]) -> list[Label]:
    return [
        label
        for f in facts
        for label in categorical_labels(
            kind=f.kind, item_id=f.item_id, annotator_id=f.annotator_id, payload=f.payload, positions=f.positions
        )
    ]


def _pairwise_item(facts: Sequence[JudgmentFact], labels: Sequence[Label], model: DawidSkene | None) -> ItemQuality:
    score = item_categorical_score(labels)
    vote = majority_vote([label.value for label in labels])
    consensus: dict[str, Any] = {"votes": dict(Counter(label.value for label in labels)), "majority": vote.label}
    label, support, method = vote.label, vote.support, "majority"
    if model is not None and labels and labels[0].unit in model.posteriors:
        label, support = model.best(labels[0].unit)
        method = "dawid_skene"
        consensus["posterior"] = model.posteriors[labels[0].unit]
    positions = facts[0].positions
    consensus["label"] = label
    consensus["outcome"] = None if label is None else "preferred" if label in (FIRST, SECOND) else label
    consensus["preferred"] = positions[0] if label == FIRST else positions[1] if label == SECOND else None
    return ItemQuality(
        item_id=facts[0].item_id,
        judgments=len(facts),
        agreement=score.agreement,
        agreement_no_ties=score.agreement_no_ties,
        consensus=consensus if label is not None else {**consensus, "split": True},
        support=support if label is not None else None,
        method=method,
        last_judgment_at=max(f.created_at for f in facts),
    )


def _ranking_item(facts: Sequence[JudgmentFact], labels: Sequence[Label]) -> ItemQuality:
    score = item_categorical_score(labels)
    result = ranking_consensus([f.payload.get("ranking", []) for f in facts])
    return ItemQuality(
        item_id=facts[0].item_id,
        judgments=len(facts),
        agreement=score.agreement,
        agreement_no_ties=score.agreement_no_ties,
        consensus={
            "ranking": result.tiers,
            "borda": {str(k): v for k, v in result.borda.items()},
            "strengths": {str(k): v for k, v in result.strengths.items()},
            "converged": result.converged,
        },
        support=result.support,
        method="plackett_luce",
        last_judgment_at=max(f.created_at for f in facts),
    )


def _rating_item(facts: Sequence[JudgmentFact], scales: Scales) -> ItemQuality:
    answers = [rating_scores(f.payload) for f in facts]
    summary = rating_consensus(answers)
    return ItemQuality(
        item_id=facts[0].item_id,
        judgments=len(facts),
        agreement=item_rating_score(answers, scales).agreement,
        agreement_no_ties=None,
        consensus={
            "response": facts[0].payload.get("response"),
            "ratings": {n: {"mean": a.mean, "spread": a.spread, "count": a.count} for n, a in summary.items()},
        },
        support=rating_support(summary, scales) if summary else None,
        method="mean",
        last_judgment_at=max(f.created_at for f in facts),
    )


def _agreement(
    kind: str, facts: Sequence[JudgmentFact], labels: Sequence[Label], scales: Scales
) -> dict[str, Agreement]:
    if kind == "pairwise":
        return {OVERALL: categorical_agreement(labels, PAIR_LABELS)}
    if kind == "ranking":
        return {OVERALL: categorical_agreement(labels, RANKING_LABELS)}
    if kind != "rating":
        return {}
    per_aspect: dict[str, dict[int, list[int]]] = {name: defaultdict(list) for name in scales}
    for f in facts:
        for name, score in rating_scores(f.payload).items():
            if name in per_aspect:
                per_aspect[name][f.item_id].append(score)
    return {
        name: numeric_agreement(groups.values(), low=scales[name][0], high=scales[name][1])
        for name, groups in per_aspect.items()
    }


def quality_report(
    facts: Sequence[JudgmentFact], *, kind: str, scales: Scales | None = None, thresholds: Thresholds | None = None
) -> QualityReport:
    """Every statistic for the judgments of one task kind in one project."""
    scales = scales or {}
    facts = [f for f in facts if f.kind == kind]
    accepted = [f for f in facts if not f.rejected]
    labels = _labels(accepted)
    model: DawidSkene | None = None
    summary: dict[str, Any] = {}
    if kind in ("pairwise", "ranking") and has_enough_overlap(labels):
        model = dawid_skene(labels, PAIR_LABELS if kind == "pairwise" else RANKING_LABELS)
        summary = {"method": "dawid_skene", "iterations": model.iterations, "converged": model.converged}
        summary["priors"] = model.priors
    use_model = model if model is not None and model.converged and kind == "pairwise" else None

    by_item: dict[int, list[JudgmentFact]] = defaultdict(list)
    for f in accepted:
        by_item[f.item_id].append(f)
    labels_by_item: dict[int, list[Label]] = defaultdict(list)
    for label in labels:
        labels_by_item[label.unit[0]].append(label)
    items = []
    for item_id, own in sorted(by_item.items()):
        if kind == "pairwise":
            items.append(_pairwise_item(own, labels_by_item[item_id], use_model))
        elif kind == "ranking":
            items.append(_ranking_item(own, labels_by_item[item_id]))
        elif kind == "rating":
            items.append(_rating_item(own, scales))

    spammer = {a: model.spammer_score(a) for a in model.confusion} if model is not None else {}
    return QualityReport(
        kind=kind,
        judgments=len(facts),
        agreement=_agreement(kind, accepted, labels, scales),
        items=items,
        annotators=annotator_reliability(facts, scales=scales, spammer_scores=spammer, thresholds=thresholds),
        bias=bias_report([f for f in accepted if not f.is_gold], scales=scales),
        model=summary,
    )
