"""Celery tasks for quality statistics: recompute one project, and the beat that finds stale ones."""

from __future__ import annotations

from celery import shared_task

from curation.services.quality import quality_due_project_ids, quality_recompute


@shared_task(name="curation.recompute_quality", ignore_result=True)
def recompute_quality(project_id: int) -> None:
    """Recompute one project's statistics. No retries: a failure leaves the project dirty, so the next
    beat tries again; a second delivery finds the claim taken (or the work done) and does nothing."""
    quality_recompute(project_id=project_id)


@shared_task(name="curation.recompute_stale_quality", ignore_result=True)
def recompute_stale_quality() -> int:
    """Beat: enqueue a recompute for every project with new judgments or new decisions."""
    due = quality_due_project_ids()
    for project_id in due:
        recompute_quality.delay(project_id)
    return len(due)
