"""Reads for gold management: gold items with how annotators did on them, and items to pick from."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from annotation.models import Item, ItemResponse, Judgment
from annotation.schemas import gold_matches
from core.models import Project
from curation.answers import answer_words
from curation.selectors_quality import member_names
from curation.stats.facts import JudgmentFact
from curation.stats.reliability import gold_accuracy_by_week


@dataclass(frozen=True)
class GoldRow:
    item: Item
    answer: str  # in the item's letters (A = first response in the item)
    graded: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None


def _orders(item_ids: set[int]) -> dict[int, list[int]]:
    orders: dict[int, list[int]] = defaultdict(list)
    rows = ItemResponse.objects.filter(item_id__in=item_ids).order_by("item_id", "position")
    for item_id, response_id in rows.values_list("item_id", "response_id"):
        orders[item_id].append(response_id)
    return orders


def gold_rows(*, project: Project, limit: int = 500) -> list[GoldRow]:
    """The project's gold items, graded against their current answers."""
    items = list(Item.objects.filter(project=project, is_gold=True).select_related("prompt").order_by("pk")[:limit])
    ids = {item.pk for item in items}
    orders = _orders(ids)
    graded: dict[int, list[bool]] = defaultdict(list)
    by_id = {item.pk: item for item in items}
    for item_id, kind, payload in Judgment.objects.filter(item_id__in=ids).values_list("item_id", "kind", "payload"):
        mark = gold_matches(kind, payload, by_id[item_id].gold_answer)
        if mark is not None:
            graded[item_id].append(mark)
    return [
        GoldRow(
            item=item,
            answer=answer_words(project.task_kind, item.gold_answer or {}, orders[item.pk]),
            graded=len(graded[item.pk]),
            correct=sum(graded[item.pk]),
        )
        for item in items
    ]


def gold_accuracy_series(*, project: Project, weeks: int = 26) -> dict[str, Any]:
    """Gold accuracy by week, overall and per annotator (by name), over the last ``weeks`` weeks,
    computed now from the gold judgments (a small share of all): the gold page shows a change of
    answer at once, without waiting for the recompute."""
    since = timezone.now() - timedelta(weeks=weeks)
    rows = Judgment.objects.filter(project=project, item__is_gold=True, created_at__gte=since).values_list(
        "pk", "item_id", "annotator_id", "kind", "payload", "created_at", "item__gold_answer"
    )
    facts = [
        JudgmentFact(
            id=pk, item_id=item_id, annotator_id=annotator_id, kind=kind, payload=payload, positions=(),
            display_order=(), time_spent_ms=0, created_at=created, is_gold=True, gold_answer=answer,
        )
        for pk, item_id, annotator_id, kind, payload, created, answer in rows.iterator(chunk_size=2000)
    ]  # fmt: skip
    per_annotator = gold_accuracy_by_week(facts)
    overall: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for series in per_annotator.values():
        for week, correct, graded in series:
            overall[week][0] += correct
            overall[week][1] += graded
    names = member_names(project=project)
    return {
        "overall": [[week, k, n] for week, (k, n) in sorted(overall.items())],
        "per_annotator": {names.get(a, str(a)): [list(r) for r in series] for a, series in per_annotator.items()},
    }


def gold_candidates(*, project: Project) -> QuerySet[Item]:
    """Items that are not gold yet, newest first, to mark as gold."""
    return Item.objects.filter(project=project, is_gold=False).select_related("prompt").order_by("-pk")
