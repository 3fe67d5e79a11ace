"""The Celery task of an import (re-exported by ``annotation.tasks``, which Celery autodiscovers)."""

from __future__ import annotations

from celery import shared_task

from annotation.services.imports import import_job_run


@shared_task(name="annotation.run_import", ignore_result=True)
def run_import(job_id: int) -> str | None:
    """Run import job ``job_id``. Takes only the id and re-fetches the row; a second run is a no-op.

    No automatic retry: the job is all or nothing and ends failed with its reason on the row, so the
    admin re-uploads after fixing the file rather than the worker trying the same file again.
    """
    job = import_job_run(job_id=job_id)
    return job.status if job is not None else None
