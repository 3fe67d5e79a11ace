"""The demo project seeded by ``make run``: small, clearly labelled, safe to seed twice."""

from __future__ import annotations

from django.db import transaction

from core.models import Membership, Project, Role, User

DEMO_SLUG = "demo"


@transaction.atomic
def demo_seed(*, owner: User) -> Project:
    project, _ = Project.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "name": "Demo project",
            "description": "Sample prompts and responses written for the demo. Not real model output.",
            "created_by": owner,
        },
    )
    Membership.objects.get_or_create(user=owner, project=project, defaults={"role": Role.ADMIN})
    return project
