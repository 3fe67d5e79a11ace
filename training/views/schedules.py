"""Schedule pages: the list (with the create form for admins), enable / disable, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.schemas import SchemaError
from training.forms import PARAM_PREFIX, ScheduleForm, pick_preset
from training.models import RunKind
from training.presets import PRESETS
from training.selectors import checkpoints_for, schedule_get, schedule_list
from training.services.schedules import schedule_create, schedule_delete, schedule_set_enabled
from training.views.access import can_manage, managed_project, request_user, viewable_project


@login_required
@require_http_methods(["GET", "POST"])
def schedule_list_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = viewable_project(request, project_id)
    manager = can_manage(request, project)
    if request.method == "POST":
        project = managed_project(request, project_id)
    source = request.POST if request.method == "POST" else request.GET
    kind = str(source.get("kind") or RunKind.REWARD)
    kind = kind if kind in RunKind.values else RunKind.REWARD
    preset = pick_preset(kind, source.get("preset"))
    form = (
        ScheduleForm(
            request.POST or None,
            checkpoints=checkpoints_for(project=project),
            kind=kind,
            preset=preset,
            refresh_url=request.path,
        )
        if manager
        else None
    )
    context = {
        "project": project,
        "schedules": schedule_list(project=project),
        "form": form,
        "can_manage": manager,
        "preset": PRESETS.get(preset),
    }
    if form is not None and request.method == "GET" and getattr(request, "htmx", False):
        return render(request, "training/_run_params.html", context)
    if form is not None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            schedule = schedule_create(
                project=project,
                user=request_user(request),
                name=data["name"],
                kind=kind,
                trigger=data["trigger"],
                base_checkpoint=data["base_checkpoint"],
                params=form.params(),
                preset=data["preset"],
                every_n_judgments=data["every_n_judgments"],
                cron=data["cron"],
            )
        except SchemaError as exc:
            for error in exc.errors:
                name = PARAM_PREFIX + error.field.removeprefix("params.")
                field = name if name in form.fields else error.field
                form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(request, f"Schedule “{schedule.name}” created.")
            return redirect("training:schedule_list", project_id=project.pk)
    return render(request, "training/schedule_list.html", context)


@login_required
@require_POST
def schedule_toggle_view(request: HttpRequest, project_id: int, schedule_id: int) -> HttpResponse:
    project = managed_project(request, project_id)
    schedule = schedule_get(project=project, schedule_id=schedule_id)
    schedule = schedule_set_enabled(schedule=schedule, user=request_user(request), enabled=not schedule.enabled)
    messages.info(request, f"Schedule “{schedule.name}” is {'enabled' if schedule.enabled else 'disabled'}.")
    return redirect("training:schedule_list", project_id=project.pk)


@login_required
@require_POST
def schedule_delete_view(request: HttpRequest, project_id: int, schedule_id: int) -> HttpResponse:
    project = managed_project(request, project_id)
    schedule = schedule_get(project=project, schedule_id=schedule_id)
    schedule_delete(schedule=schedule, user=request_user(request))
    messages.info(request, f"Schedule “{schedule.name}” deleted; its runs are kept.")
    return redirect("training:schedule_list", project_id=project.pk)
