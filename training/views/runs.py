"""Run pages: list, start form, run page with its polled status, curves (JSON) and log tail, cancel, resume."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.schemas import SchemaError
from training.forms import PARAM_PREFIX, RunStartForm, pick_preset
from training.models import RunKind
from training.presets import PRESETS
from training.selectors import (
    checkpoints_for,
    run_checkpoint,
    run_curves,
    run_get,
    run_log_tail,
    run_rows,
    snapshots_trainable,
)
from training.services.runs import RunStateError, run_cancel, run_create, run_resume
from training.views.access import HTMX_STOP_POLLING, can_manage, managed_project, request_user, viewable_project


@login_required
@require_GET
def run_list_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = viewable_project(request, project_id)
    context = {"project": project, "rows": run_rows(project=project), "can_manage": can_manage(request, project)}
    return render(request, "training/run_list.html", context)


def _kind(value: str | None) -> str:
    return value if value in RunKind.values else RunKind.REWARD


@login_required
@require_http_methods(["GET", "POST"])
def run_create_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """The start form. Changing kind or preset re-renders the hyper-parameter fields (htmx partial)."""
    project = managed_project(request, project_id)
    source = request.POST if request.method == "POST" else request.GET
    kind = _kind(source.get("kind"))
    preset = pick_preset(kind, source.get("preset"))
    form = RunStartForm(
        request.POST or None,
        snapshots=snapshots_trainable(project=project),
        checkpoints=checkpoints_for(project=project),
        kind=kind,
        preset=preset,
        refresh_url=request.path,
        initial={"snapshot": request.GET.get("snapshot")},
    )
    context = {"project": project, "form": form, "preset": PRESETS.get(preset)}
    if request.method == "GET" and getattr(request, "htmx", False):
        return render(request, "training/_run_params.html", context)
    if request.method == "POST" and form.is_valid():
        try:
            run = run_create(
                project=project,
                user=request_user(request),
                kind=kind,
                snapshot=form.cleaned_data["snapshot"],
                base_checkpoint=form.cleaned_data["base_checkpoint"],
                params=form.params(),
                preset=form.cleaned_data["preset"],
            )
        except SchemaError as exc:
            for error in exc.errors:
                name = error.field.removeprefix("params.")
                field = PARAM_PREFIX + name if PARAM_PREFIX + name in form.fields else error.field
                form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(request, f"Run {run.pk} is queued.")
            return redirect("training:run_detail", project_id=project.pk, run_id=run.pk)
    return render(request, "training/run_create.html", context)


@login_required
@require_GET
def run_detail_view(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    project = viewable_project(request, project_id)
    run = run_get(project=project, run_id=run_id)
    context = {
        "project": project,
        "run": run,
        "checkpoint": run_checkpoint(run=run),
        "log_tail": run_log_tail(run=run),
        "can_manage": can_manage(request, project),
        "metrics": sorted(run.metrics.items()),
        "params": sorted(run.params.items()),
    }
    return render(request, "training/run_detail.html", context)


@login_required
@require_GET
def run_status_view(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    """The status partial the run page and the list poll every 2 s; 286 stops them once the run ends."""
    project = viewable_project(request, project_id)
    run = run_get(project=project, run_id=run_id)
    detail = request.GET.get("detail") == "1"
    context = {"project": project, "run": run, "detail": detail, "can_manage": can_manage(request, project)}
    response = render(request, "training/_run_status.html", context)
    if run.is_finished:
        response.status_code = HTMX_STOP_POLLING
        if detail:
            response["HX-Refresh"] = "true"  # the page reloads to show final metrics and the checkpoint
    return response


@login_required
@require_GET
def run_log_view(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    project = viewable_project(request, project_id)
    run = run_get(project=project, run_id=run_id)
    response = render(
        request, "training/_run_log.html", {"project": project, "run": run, "log_tail": run_log_tail(run=run)}
    )
    if run.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response


@login_required
@require_GET
def run_curves_view(request: HttpRequest, project_id: int, run_id: int) -> JsonResponse:
    """Curve points after ``?since=<step>`` for static/js/training.js (Chart.js)."""
    project = viewable_project(request, project_id)
    run = run_get(project=project, run_id=run_id)
    try:
        since = max(0, int(request.GET.get("since", "0")))
    except ValueError:
        since = 0
    response = JsonResponse(run_curves(run=run, since=since))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def run_cancel_view(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    project = managed_project(request, project_id)
    run = run_cancel(run=run_get(project=project, run_id=run_id), user=request_user(request))
    if run.is_finished:
        messages.info(request, f"Run {run.pk} is {run.get_status_display().lower()}.")
    else:
        messages.info(request, f"Cancel requested: run {run.pk} stops after its current step.")
    return redirect("training:run_detail", project_id=project.pk, run_id=run.pk)


@login_required
@require_POST
def run_resume_view(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    project = managed_project(request, project_id)
    run = run_get(project=project, run_id=run_id)
    try:
        run_resume(run=run, user=request_user(request))
    except RunStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run.pk} is queued again; it continues from its last checkpoint.")
    return redirect("training:run_detail", project_id=project.pk, run_id=run.pk)
