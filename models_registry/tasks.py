"""Celery interfaces of the registry: ids in, one service call, no retries.

``gpu.models_registry.score_queue`` runs on the ``gpu`` queue (CELERY_TASK_ROUTES). The service records
every failure on the job row, and a redelivered message finds the job claimed and does nothing. Torch is
imported only by the scoring child process, never here.
"""

from __future__ import annotations

from celery import shared_task

from models_registry.scoring import scoring_job_execute, scoring_jobs_reap_stale


@shared_task(name="gpu.models_registry.score_queue", ignore_result=True)
def score_queue(job_id: int) -> None:
    scoring_job_execute(job_id=job_id)


@shared_task(name="models_registry.reap_stale_scoring_jobs", ignore_result=True)
def reap_stale_scoring_jobs() -> int:
    """Beat: fail scoring jobs whose worker died or that no worker picked up."""
    return scoring_jobs_reap_stale()
