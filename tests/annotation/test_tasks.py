from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from annotation.models import Assignment, Item
from annotation.services.queue import assignment_claim_next
from annotation.tasks import expire_leases
from tests.factories import annotation_project

pytestmark = pytest.mark.django_db


def test_beat_task_expires_leases_across_projects():
    leases = []
    for _ in range(2):
        project, [user] = annotation_project(items=1)
        leases.append(assignment_claim_next(annotator=user, project=project).assignment)
    Assignment.objects.update(expires_at=timezone.now() - timedelta(seconds=5))
    assert expire_leases() == 2
    assert list(Item.objects.values_list("open_slots", flat=True)) == [1, 1]


def test_expiry_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["annotation-expire-leases"]
    assert entry["task"] == expire_leases.name
    assert entry["schedule"] <= 60
