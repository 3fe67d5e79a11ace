from __future__ import annotations

from celery import shared_task

from annotation.imports.tasks import run_import  # noqa: F401  (registers annotation.run_import)
from annotation.services.queue import leases_expire


@shared_task(name="annotation.expire_leases")
def expire_leases() -> int:
    """Beat, every minute: give the slots of run-out leases back, in batches, across all projects."""
    total = 0
    while True:
        expired = leases_expire(limit=1000)
        total += expired
        if expired < 1000:
            return total
