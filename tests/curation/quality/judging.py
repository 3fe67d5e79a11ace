"""Judgments with chosen answers, made through the queue services as annotators would."""

from __future__ import annotations

import uuid

from annotation.models import ItemResponse
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Role
from tests.factories import MembershipFactory, annotation_project


def response_ids(item):
    return list(ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", flat=True))


def prefer(position, strength="better"):
    """A pairwise answer choosing the response at ``position`` of the item (not of the screen)."""

    def answer(item, assignment):
        return {"outcome": "preferred", "preferred": response_ids(item)[position], "strength": strength}

    return answer


def tie(item, assignment):
    return {"outcome": "tie"}


def answer_all(project, annotators, plan, *, ms=1500):
    """Each annotator judges every item they can claim; ``plan[n](item_index)`` gives annotator n's
    answer function (or the function itself for all items). Items are indexed by creation order."""
    order = {pk: n for n, pk in enumerate(project.items.order_by("pk").values_list("pk", flat=True))}
    judgments = []
    for n, annotator in enumerate(annotators):
        while (assignment := assignment_claim_next(annotator=annotator, project=project).assignment) is not None:
            answer = plan[n](order[assignment.item_id]) if isinstance(plan, list) else plan
            result = judgment_submit(
                annotator=annotator,
                project=project,
                assignment_id=assignment.pk,
                payload=answer(assignment.item, assignment),
                client_key=uuid.uuid4().hex,
                time_spent_ms=ms(n) if callable(ms) else ms,
            )
            judgments.append(result.judgment)
    return judgments


def three_annotator_project(*, items=3, gold_items=0):
    """Pairwise, ``items`` items judged by three annotators each:

    item 0: all three prefer the first response            -> agreement 1
    item 1: two prefer the first, one the second           -> agreement 1/3
    item 2: two ties and one second                        -> agreement 1/3 (ties excluded: none)
    items 3+: all prefer the first; gold items after those are answered first/first/second.
    """

    def plan_for(annotator):
        def by_item(index):
            if index >= items:
                return prefer(1) if annotator == 2 else prefer(0)
            if index == 1 and annotator == 2:
                return prefer(1)
            if index == 2:
                return prefer(1) if annotator == 2 else tie
            return prefer(0)

        return by_item

    project, annotators = annotation_project(kind="pairwise", items=items + gold_items, overlap=3, annotators=3)
    if gold_items:
        from annotation.models import Item

        for item in Item.objects.filter(project=project).order_by("pk")[items:]:
            first = response_ids(item)[0]
            Item.objects.filter(pk=item.pk).update(
                is_gold=True, gold_answer={"outcome": "preferred", "preferred": first}
            )
    judgments = answer_all(project, annotators, [plan_for(n) for n in range(3)])
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    return project, annotators, judgments, {"reviewer": reviewer, "admin": admin, "researcher": researcher}
