"""Reads for reviewers: the review queue and an item's judgments, shaped for the pages and the API.

Responses are shown to the reviewer in the order *that annotator* saw them, with the same letters, so
"B is better" on the card means what it meant on the annotator's screen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from annotation.models import Item, ItemResponse, Judgment
from core.models import Project, User
from curation.answers import answer_words, consensus_payload
from curation.models_quality import Adjudication, AnnotatorReliability, ItemAgreement, ReviewDecision
from curation.selectors_quality import latest_decision

QueueState = Literal["unreviewed", "flag", "reject", "accept"]
QUEUE_STATES: tuple[QueueState, ...] = ("unreviewed", "flag", "reject", "accept")


@dataclass(frozen=True)
class ShownResponse:
    id: int
    label: str
    text: str


@dataclass(frozen=True)
class ReviewCard:
    judgment: Judgment
    messages: list[dict[str, str]]
    responses: list[ShownResponse]  # as this annotator saw them
    answer: str
    others: list[str]  # the other annotators' answers, in this annotator's letters
    consensus: str | None
    item_agreement: float | None
    annotator_flags: list[str]
    annotator_agreement: float | None
    decision: str | None  # latest review decision, None when never reviewed


def _reviewable(*, project: Project, reviewer: User) -> QuerySet[Judgment]:
    agreement = ItemAgreement.objects.filter(item=OuterRef("item_id")).values("agreement")[:1]
    reliability = AnnotatorReliability.objects.filter(project=project, annotator=OuterRef("annotator_id"))
    judgments = (
        Judgment.objects.filter(project=project, item__is_gold=False)
        .exclude(annotator=reviewer)
        .annotate(
            decision=latest_decision(),
            item_agreement=Subquery(agreement),
            annotator_flagged=Exists(reliability.filter(flagged=True)),
            annotator_agreement=Subquery(reliability.values("consensus_agreement")[:1]),
        )
    )
    return judgments.select_related("annotator", "item__prompt")


def review_queryset(*, project: Project, reviewer: User, state: QueueState = "unreviewed") -> QuerySet[Judgment]:
    """Judgments to review, most in need first: annotators flagged by the reliability checks, then
    the items annotators agreed on least, then annotators who agree least with the others, then the
    oldest. Gold items are left out (they are graded automatically), and so is the reviewer's own work."""
    judgments = _reviewable(project=project, reviewer=reviewer)
    # Q objects: the annotation is not on the model, so the stubs cannot check these lookups.
    if state == "unreviewed":
        judgments = judgments.filter(Q(decision__isnull=True))
    else:
        judgments = judgments.filter(Q(decision=ReviewDecision(state)))
    return judgments.order_by(
        F("annotator_flagged").desc(),
        F("item_agreement").asc(nulls_last=True),
        F("annotator_agreement").asc(nulls_last=True),
        "created_at",
        "pk",
    )


def _texts(item_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    rows = ItemResponse.objects.filter(item_id__in=set(item_ids)).values_list(
        "item_id", "response_id", "response__text"
    )
    texts: dict[int, dict[int, str]] = defaultdict(dict)
    for item_id, response_id, text in rows:
        texts[item_id][response_id] = text
    return texts


def review_cards(*, project: Project, judgments: Sequence[Judgment]) -> list[ReviewCard]:
    """Cards for ``judgments`` (annotated by ``review_queryset``): three queries, whatever their number."""
    item_ids = {j.item_id for j in judgments}
    texts = _texts(item_ids)
    siblings: dict[int, list[Judgment]] = defaultdict(list)
    for other in Judgment.objects.filter(item_id__in=item_ids).order_by("pk"):
        siblings[other.item_id].append(other)
    stored = {row.item_id: row for row in ItemAgreement.objects.filter(item_id__in=item_ids)}
    flags = dict(
        AnnotatorReliability.objects.filter(
            project=project, annotator_id__in={j.annotator_id for j in judgments}
        ).values_list("annotator_id", "flags")
    )
    cards = []
    for j in judgments:
        shown = [int(r) for r in j.display_order or []]
        agreement = stored.get(j.item_id)
        consensus = consensus_payload(project.task_kind, agreement.consensus if agreement else None)
        cards.append(
            ReviewCard(
                judgment=j,
                messages=list(j.item.prompt.messages),
                responses=[
                    ShownResponse(rid, chr(ord("A") + n), texts[j.item_id].get(rid, "")) for n, rid in enumerate(shown)
                ],
                answer=answer_words(j.kind, j.payload, shown),
                others=[answer_words(o.kind, o.payload, shown) for o in siblings[j.item_id] if o.pk != j.pk],
                consensus=answer_words(project.task_kind, consensus, shown) if consensus else None,
                item_agreement=getattr(j, "item_agreement", None),
                annotator_flags=list(flags.get(j.annotator_id) or []),
                annotator_agreement=getattr(j, "annotator_agreement", None),
                decision=getattr(j, "decision", None),
            )
        )
    return cards


@dataclass(frozen=True)
class ItemJudgment:
    judgment: Judgment
    answer: str
    decision: str | None


@dataclass(frozen=True)
class ItemReview:
    item: Item
    responses: list[ShownResponse]  # in the item's order, lettered A, B, ...
    judgments: list[ItemJudgment]
    agreement: ItemAgreement | None
    consensus: str | None
    adjudication: Adjudication | None
    adjudication_words: str | None


def item_review(*, project: Project, item_id: int) -> ItemReview:
    """Everything a reviewer needs to adjudicate one item; Http404 outside ``project``."""
    item = Item.objects.filter(project=project, pk=item_id).select_related("prompt").first()
    if item is None:
        raise Http404("No such item.")
    links = ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", "response__text")
    responses = [ShownResponse(rid, chr(ord("A") + n), text) for n, (rid, text) in enumerate(links)]
    order = [r.id for r in responses]
    judgments = (
        Judgment.objects.filter(item=item)
        .annotate(decision=latest_decision())
        .select_related("annotator")
        .order_by("pk")
    )
    agreement = ItemAgreement.objects.filter(item=item).first()
    consensus = consensus_payload(project.task_kind, agreement.consensus if agreement else None)
    adjudication = (
        Adjudication.objects.filter(item=item).select_related("adjudicator").order_by("-created_at", "-id").first()
    )
    return ItemReview(
        item=item,
        responses=responses,
        judgments=[
            ItemJudgment(j, answer_words(j.kind, j.payload, order), getattr(j, "decision", None)) for j in judgments
        ],
        agreement=agreement,
        consensus=answer_words(project.task_kind, consensus, order) if consensus else None,
        adjudication=adjudication,
        adjudication_words=answer_words(project.task_kind, adjudication.answer, order) if adjudication else None,
    )


def review_card(*, project: Project, reviewer: User, judgment_id: int) -> ReviewCard | None:
    """One judgment's card, whatever its review state (after a decision, to show it in place)."""
    return next(
        iter(
            review_cards(
                project=project, judgments=list(_reviewable(project=project, reviewer=reviewer).filter(pk=judgment_id))
            )
        ),
        None,
    )


def queue_counts(*, project: Project, reviewer: User) -> dict[str, int]:
    return {state: review_queryset(project=project, reviewer=reviewer, state=state).count() for state in QUEUE_STATES}
