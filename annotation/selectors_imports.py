"""Reads of import jobs, always through their project (which the caller got by membership)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from annotation.models_imports import ImportJob
from core.models import Project


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")


def import_job_get(*, project: Project, job_id: int) -> ImportJob:
    """The job if it belongs to ``project``; Http404 otherwise (another project's id confirms nothing)."""
    job = import_job_list(project=project).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such import.")
    return job
