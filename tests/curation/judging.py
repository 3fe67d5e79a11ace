"""Real judgments for snapshot tests, created through the queue services as annotators would."""

from __future__ import annotations

import uuid

from annotation.models import ItemResponse
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Role
from tests.factories import MembershipFactory, annotation_project

RATING_CONFIG = {
    "aspects": [
        {"name": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7},
        {"name": "honesty", "label": "Honesty", "min": 1, "max": 7},
    ]
}


def texts_by_position(item):
    return list(
        ItemResponse.objects.filter(item=item).order_by("position").values_list("response_id", "response__text")
    )


def pairwise_payload(item, n):
    (first, _), (second, _) = texts_by_position(item)
    if n % 4 == 3:
        return {"outcome": "tie"}
    return {"outcome": "preferred", "preferred": first if n % 2 == 0 else second, "strength": "better"}


def ranking_payload(item, n):
    return {"ranking": [[rid] for rid, _ in texts_by_position(item)]}


def rating_payload(item, n):
    score = 7 if n % 2 == 0 else 1
    return {"ratings": {"helpfulness": {"score": score}, "honesty": {"score": score}}}


def free_text_payload(item, n):
    [(_, text)] = texts_by_position(item)
    return {"critique": "Could be shorter.", "edited_text": f"{text} (edited)"}


PAYLOADS = {
    "pairwise": pairwise_payload,
    "ranking": ranking_payload,
    "rating": rating_payload,
    "free_text": free_text_payload,
}
CONFIGS = {"pairwise": None, "ranking": {"k": 3}, "rating": RATING_CONFIG, "free_text": None}


def judge_everything(project, annotators, payload=None):
    """Every annotator judges every item they can claim; returns the number of judgments."""
    make = payload or PAYLOADS[project.task_kind]
    count = 0
    for annotator in annotators:
        while (assignment := assignment_claim_next(annotator=annotator, project=project).assignment) is not None:
            judgment_submit(
                annotator=annotator,
                project=project,
                assignment_id=assignment.pk,
                payload=make(assignment.item, count),
                client_key=uuid.uuid4().hex,
                time_spent_ms=1500 + count,
            )
            count += 1
    return count


def judged_project(kind, *, items=4, annotators=2):
    """A project of ``kind`` whose items are all judged; returns (project, annotators, researcher)."""
    project, users = annotation_project(
        kind=kind, items=items, overlap=annotators, annotators=annotators, config=CONFIGS[kind]
    )
    judge_everything(project, users)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    return project, users, researcher
