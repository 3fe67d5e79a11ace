"""The Celery task of an import (re-exported by ``annotation.tasks``, which Celery autodiscovers)."""

from __future__ import annotations

from celery import shared_task

from annotation.imports.fetch import import_job_fetch
from annotation.models_imports import ImportJob
from annotation.services.imports import import_job_run


@shared_task(name="annotation.run_import", ignore_result=True)
def run_import(job_id: int) -> str | None:
    """Run import job ``job_id``. Takes only the id and re-fetches the row; a second run is a no-op.

    A URL import first downloads its file here, in the worker, through the outbound guard (never in
    the web request); an upload's file is already in place and the fetch step returns at once.

    No automatic retry: the job is all or nothing and ends failed with its reason on the row, so the
    admin re-uploads (or fixes the link) rather than the worker trying the same file again.
    """
    if not import_job_fetch(job_id=job_id):
        return ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    job = import_job_run(job_id=job_id)
    return job.status if job is not None else None
