"""Celery interfaces of the registry: ids in, one service call, no retries.

The ``gpu.*`` tasks run on the ``gpu`` queue (CELERY_TASK_ROUTES). Each service records every failure on
its job row, and a redelivered message finds the job claimed and does nothing. Torch is imported only by
the child processes (``ml.score_items``, ``ml.generate``), never here.
"""

from __future__ import annotations

from celery import shared_task

from models_registry.agreement import agreement_check_execute, agreement_checks_reap_stale
from models_registry.generation import generation_job_execute, generation_jobs_reap_stale
from models_registry.scoring import scoring_job_execute, scoring_jobs_reap_stale


@shared_task(name="gpu.models_registry.score_queue", ignore_result=True)
def score_queue(job_id: int) -> None:
    scoring_job_execute(job_id=job_id)


@shared_task(name="gpu.models_registry.generate", ignore_result=True)
def generate(job_id: int) -> None:
    generation_job_execute(job_id=job_id)


@shared_task(name="gpu.models_registry.check_agreement", ignore_result=True)
def check_agreement(check_id: int) -> None:
    agreement_check_execute(check_id=check_id)


@shared_task(name="models_registry.reap_stale_scoring_jobs", ignore_result=True)
def reap_stale_scoring_jobs() -> int:
    """Beat: fail loop jobs (scoring, generation, agreement checks) whose worker died or never started."""
    return scoring_jobs_reap_stale() + generation_jobs_reap_stale() + agreement_checks_reap_stale()
