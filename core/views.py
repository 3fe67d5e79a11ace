from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from rest_framework.authtoken.models import Token

from core.models import Project, Role, User
from core.selectors import audit_actions, audit_events, project_get_for_user, project_list_for_user
from core.services import token_rotate

AUDIT_PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    # Behind login_required the user is always one of ours; this narrows the type for mypy.
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = project_list_for_user(user=_user(request))
    return render(request, "core/home.html", {"projects": projects})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_required
def api_token(request: HttpRequest) -> HttpResponse:
    """Show the user's API token; POST makes a new one (the old one stops working at once)."""
    user = _user(request)
    token: Token | None = (
        token_rotate(user=user) if request.method == "POST" else Token.objects.filter(user=user).first()
    )
    return render(request, "core/api_token.html", {"token": token})


def _audit_page(request: HttpRequest, project: Project | None) -> HttpResponse:
    action = request.GET.get("action", "")[:64]
    page = Paginator(audit_events(project=project, action=action), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    # Details are shown as indented JSON text; the template escapes it like any other string.
    rows = [(event, json.dumps(event.details, indent=1, sort_keys=True, ensure_ascii=False)) for event in page]
    context: dict[str, Any] = {
        "project": project,
        "page": page,
        "rows": rows,
        "actions": audit_actions(project=project),
        "action": action,
    }
    return render(request, "core/audit.html", context)


@login_required
@require_GET
def project_audit(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's audit log, for its admins (anyone else gets the same 404 as a missing project)."""
    project = project_get_for_user(user=_user(request), project_id=project_id, roles=[Role.ADMIN])
    return _audit_page(request, project)


@login_required
@require_GET
def site_audit(request: HttpRequest) -> HttpResponse:
    """Every audit event, sign-in failures and account events included: staff only."""
    if not _user(request).is_staff:
        raise PermissionDenied("The site audit log is for staff.")
    return _audit_page(request, None)
