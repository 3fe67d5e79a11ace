"""The checkpoints page: what is active, the history of the aliases, promote / roll back, re-score the queue.

Researchers and admins of the project see it; only admins change anything (403 for a researcher). Anyone
else gets a 404 for the project and so for every object in it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.models import Project, Role, User
from core.selectors import project_get_for_user
from models_registry.aliases import (
    AliasError,
    alias_may_manage,
    alias_promote,
    alias_rollback,
    loop_settings_get,
    loop_settings_update,
)
from models_registry.forms import AgreementForm, GenerationForm, LoopSettingsForm
from models_registry.models import AliasName, Checkpoint, PriorityStrategy, ScoringJob
from models_registry.scoring import ScoringRefused, scoring_job_create
from models_registry.selectors import checkpoints_page
from models_registry.selectors_leaderboard import leaderboard_standings, standing_as_dict
from models_registry.selectors_loop import (
    agreement_chart,
    agreement_checks_recent,
    generation_jobs_recent,
    policy_standings,
    snapshots_for_agreement,
)

VIEW_ROLES = [Role.RESEARCHER, Role.ADMIN]
LEADERBOARD_ROLES = [Role.RESEARCHER, Role.ADMIN, Role.REVIEWER]
HTMX_STOP_POLLING = 286  # htmx stops polling an element when its request answers 286


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def _viewable(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=VIEW_ROLES)


def _managed(request: HttpRequest, project_id: int) -> Project:
    project = _viewable(request, project_id)
    if not alias_may_manage(user=_user(request), project=project):
        raise PermissionDenied("Only admins of this project promote, roll back or re-score.")
    return project


def _back(project: Project) -> HttpResponse:
    return redirect("models_registry:checkpoint_list", project_id=project.pk)


@login_required
@require_GET
def checkpoint_list_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _viewable(request, project_id)
    page = checkpoints_page(project=project)
    loop = page.settings
    checks = agreement_checks_recent(project=project)
    standings = policy_standings(project=project)
    context = {
        "project": project,
        "page": page,
        "form": LoopSettingsForm(
            initial={
                "priority_strategy": loop.priority_strategy,
                "gate_margin": loop.gate_margin,
                "ensemble_size": loop.ensemble_size,
                "suggestions_enabled": loop.suggestions_enabled,
                "generate_on_promotion": loop.generate_on_promotion,
            }
        ),
        "generation_form": GenerationForm(
            initial={
                "selection": loop.generation_selection,
                "prompt_limit": loop.generation_prompt_limit,
                "pairing": loop.generation_pairing,
                **{k: v for k, v in loop.generation_params.items() if k in GenerationForm.PARAM_FIELDS},
            }
        ),
        "agreement_form": AgreementForm(snapshots=snapshots_for_agreement(project=project)),
        "generation_jobs": generation_jobs_recent(project=project),
        "agreement_checks": checks,
        "agreement_data": agreement_chart(checks=checks),
        "rows": [(row, standings.get(row.checkpoint.pk)) for row in page.rows],
        "can_manage": alias_may_manage(user=_user(request), project=project),
    }
    return render(request, "models_registry/checkpoint_list.html", context)


@login_required
@require_POST
def checkpoint_promote_view(request: HttpRequest, project_id: int, checkpoint_id: int) -> HttpResponse:
    project = _managed(request, project_id)
    checkpoint = Checkpoint.objects.filter(project=project, pk=checkpoint_id).first()
    if checkpoint is None:
        raise Http404("No such checkpoint.")
    try:
        alias_promote(actor=_user(request), checkpoint=checkpoint, reason=request.POST.get("reason", "")[:500])
    except AliasError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{checkpoint.name} is now active.")
    return _back(project)


@login_required
@require_POST
def alias_rollback_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed(request, project_id)
    name = request.POST.get("alias", "")
    if name not in AliasName.values:
        messages.error(request, "Unknown alias.")
        return _back(project)
    try:
        event = alias_rollback(actor=_user(request), project=project, name=AliasName(name))
    except AliasError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{name} rolled back to {event.checkpoint.name}.")
    return _back(project)


@login_required
@require_POST
def loop_settings_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed(request, project_id)
    form = LoopSettingsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        loop_settings_update(
            project=project,
            priority_strategy=PriorityStrategy(data["priority_strategy"]),
            gate_margin=data["gate_margin"],
            ensemble_size=data["ensemble_size"] or loop_settings_get(project=project).ensemble_size,
            suggestions_enabled=data["suggestions_enabled"],
            generate_on_promotion=data["generate_on_promotion"],
        )
        messages.success(request, "Settings saved.")
    else:
        messages.error(request, "; ".join(str(e) for errors in form.errors.values() for e in errors))
    return _back(project)


@login_required
@require_POST
def scoring_start_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed(request, project_id)
    try:
        scoring_job_create(project=project, actor=_user(request))
    except ScoringRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Re-scoring queued.")
    return _back(project)


@login_required
@require_GET
def scoring_status_view(request: HttpRequest, project_id: int, scoring_job_id: int) -> HttpResponse:
    """The progress partial the page polls every 2 s; 286 stops the polling once the job ended."""
    project = _viewable(request, project_id)
    job = ScoringJob.objects.filter(project=project, pk=scoring_job_id).first()
    if job is None:
        raise Http404("No such job.")
    response = render(request, "models_registry/_scoring_status.html", {"project": project, "job": job})
    if job.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response


@login_required
@require_GET
def leaderboard_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """Bradley-Terry ratings of the models whose responses were judged against each other."""
    project = project_get_for_user(user=_user(request), project_id=project_id, roles=LEADERBOARD_ROLES)
    standings = leaderboard_standings(project=project)
    context = {
        "project": project,
        "standings": standings,
        "chart_data": [standing_as_dict(s) for s in standings],
        "can_see_checkpoints": _user(request).is_superuser
        or project.memberships.filter(user=_user(request), role__in=VIEW_ROLES).exists(),
    }
    return render(request, "models_registry/leaderboard.html", context)
