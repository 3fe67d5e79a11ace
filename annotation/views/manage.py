"""Project set-up pages for admins: create a project, manage members, see item counts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.forms import MemberAddForm, MemberRoleForm, ProjectCreateForm
from annotation.schemas import SchemaError
from annotation.selectors import annotator_progress, item_counts
from annotation.services.projects import annotation_project_create
from core.models import Membership, Role, User
from core.selectors import membership_get, project_get_for_user
from core.services import LastAdminError, membership_change


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@staff_member_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            config = form.task_config()
            project = annotation_project_create(
                name=form.cleaned_data["name"],
                created_by=_user(request),
                task_kind=form.cleaned_data["task_kind"],
                task_config=config,
                overlap=form.cleaned_data["overlap"],
                lease_ttl_seconds=form.cleaned_data["lease_ttl_minutes"] * 60,
                guidelines=form.cleaned_data["guidelines"],
                description=form.cleaned_data["description"],
                blind_sources=form.cleaned_data["blind_sources"],
                randomise_order=form.cleaned_data["randomise_order"],
            )
        except ValidationError as exc:
            form.add_error("aspects", exc)
        except SchemaError as exc:
            for error in exc.errors:
                form.add_error(None, str(error))
        else:
            messages.success(request, f"Project “{project.name}” created. Add members, then import items.")
            return redirect("annotation:project_detail", project_id=project.pk)
    return render(request, "annotation/manage/project_create.html", {"form": form})


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    user = _user(request)
    project = project_get_for_user(user=user, project_id=project_id)
    membership = membership_get(user=user, project=project)
    role = membership.role if membership else (Role.ADMIN if user.is_superuser else None)
    context = {
        "project": project,
        "role": role,
        "is_admin": role == Role.ADMIN,
        "progress": annotator_progress(annotator=user, project=project),
        "counts": item_counts(project=project) if role != Role.ANNOTATOR else None,
    }
    return render(request, "annotation/manage/project_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=_user(request), project_id=project_id, roles=[Role.ADMIN])
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.filter(username=form.cleaned_data["username"], is_active=True).first()
        if user is None:
            form.add_error("username", "No active account with that username. Accounts are created by a site admin.")
        else:
            membership_change(project=project, user=user, role=Role(form.cleaned_data["role"]), actor=_user(request))
            messages.success(request, f"{user} is now {form.cleaned_data['role']} in this project.")
            return redirect("annotation:members", project_id=project.pk)
    rows = Membership.objects.filter(project=project).select_related("user").order_by("role", "user__username")
    return render(
        request,
        "annotation/manage/members.html",
        {"project": project, "form": form, "memberships": rows, "roles": MemberRoleForm.ROLE_CHOICES},
    )


@login_required
@require_POST
def member_change(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project = project_get_for_user(user=_user(request), project_id=project_id, roles=[Role.ADMIN])
    membership = Membership.objects.filter(project=project, pk=membership_id).select_related("user").first()
    if membership is None:
        raise Http404("No such member.")
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That change could not be made.")
        return redirect("annotation:members", project_id=project.pk)
    choice = form.cleaned_data["role"]
    try:
        membership_change(
            project=project,
            user=membership.user,
            role=None if choice == "remove" else Role(choice),
            actor=_user(request),
        )
    except LastAdminError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Updated {membership.user}.")
    return redirect("annotation:members", project_id=project.pk)
