"""Loop actions on the checkpoints page: generate with the active policy, follow and cancel the job,
check the active reward model against a snapshot's human preferences.

Same access rules as the rest of the page (``models_registry.views``): researchers and admins see,
admins act, anyone else gets a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from annotation.schemas import SchemaError
from models_registry.agreement import AgreementRefused, agreement_check_create
from models_registry.aliases import alias_may_manage, loop_settings_get, loop_settings_update
from models_registry.forms import AgreementForm, GenerationForm
from models_registry.generation import GenerationRefused, generation_job_cancel, generation_job_create
from models_registry.models import PriorityStrategy
from models_registry.models_jobs import GenerationJob
from models_registry.selectors_loop import snapshots_for_agreement
from models_registry.views import HTMX_STOP_POLLING, _back, _managed, _user, _viewable


def _form_errors(form: GenerationForm | AgreementForm) -> str:
    return "; ".join(f"{name}: {e}" for name, errors in form.errors.items() for e in errors)


@login_required
@require_POST
def generation_start_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """Queue generation with the active policy; the options become the project's defaults."""
    project = _managed(request, project_id)
    form = GenerationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(project)
    data = form.cleaned_data
    try:
        generation_job_create(
            project=project,
            actor=_user(request),
            selection=data["selection"],
            prompt_limit=data["prompt_limit"],
            pairing=data["pairing"],
            params=form.params(),
        )
    except (GenerationRefused, SchemaError) as exc:
        messages.error(request, str(exc))
        return _back(project)
    loop = loop_settings_get(project=project)
    loop_settings_update(
        project=project,
        priority_strategy=PriorityStrategy(loop.priority_strategy),
        gate_margin=loop.gate_margin,
        generation_selection=data["selection"],
        generation_prompt_limit=data["prompt_limit"],
        generation_pairing=data["pairing"],
        generation_params=form.params(),
    )
    messages.success(request, "Generation queued.")
    return _back(project)


def _job(request: HttpRequest, project_id: int, job_id: int, *, manage: bool) -> GenerationJob:
    project = _managed(request, project_id) if manage else _viewable(request, project_id)
    job = GenerationJob.objects.filter(project=project, pk=job_id).select_related("checkpoint", "baseline").first()
    if job is None:
        raise Http404("No such job.")
    return job


@login_required
@require_GET
def generation_status_view(request: HttpRequest, project_id: int, generation_job_id: int) -> HttpResponse:
    """The progress partial the page polls every 2 s; 286 stops the polling once the job ended."""
    job = _job(request, project_id, generation_job_id, manage=False)
    response = render(
        request,
        "models_registry/_generation_status.html",
        {"project": job.project, "job": job, "can_manage": _managed_quietly(request, job)},
    )
    if job.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response


def _managed_quietly(request: HttpRequest, job: GenerationJob) -> bool:
    return alias_may_manage(user=_user(request), project=job.project)


@login_required
@require_POST
def generation_cancel_view(request: HttpRequest, project_id: int, generation_job_id: int) -> HttpResponse:
    job = _job(request, project_id, generation_job_id, manage=True)
    generation_job_cancel(job=job)
    messages.success(request, "Cancel requested: the job stops without adding anything.")
    return _back(job.project)


@login_required
@require_POST
def agreement_start_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed(request, project_id)
    form = AgreementForm(request.POST, snapshots=snapshots_for_agreement(project=project))
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(project)
    try:
        agreement_check_create(snapshot=form.cleaned_data["snapshot"], actor=_user(request))
    except AgreementRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Agreement check queued.")
    return _back(project)
