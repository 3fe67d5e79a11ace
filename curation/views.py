"""Researcher pages for dataset snapshots: list, create, detail, live status, download.

Researchers and admins only: for anyone else (annotators, reviewers, other projects' members) the
project, and so every snapshot in it, is a 404.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from annotation.schemas import SchemaError
from core.audit import audit_record
from core.models import Project, Role, User
from core.selectors import project_get_for_user
from curation.forms import SnapshotCreateForm
from curation.selectors import member_choices, snapshot_file_path, snapshot_get, snapshot_list
from curation.services.snapshots import CREATE_ROLES, snapshot_create

# htmx stops polling an element when its request answers 286.
HTMX_STOP_POLLING = 286
CONTENT_TYPES = {
    ".jsonl": "application/jsonl",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _project(request: HttpRequest, project_id: int) -> Project:
    roles: list[Role] = list(CREATE_ROLES)
    return project_get_for_user(user=_user(request), project_id=project_id, roles=roles)


@login_required
@require_GET
def snapshot_list_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    context = {"project": project, "snapshots": snapshot_list(project=project)[:200]}
    return render(request, "curation/snapshot_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def snapshot_create_view(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    form = SnapshotCreateForm(request.POST or None, members=member_choices(project=project))
    if request.method == "POST" and form.is_valid():
        try:
            snapshot = snapshot_create(
                project=project,
                user=_user(request),
                name=form.cleaned_data["name"],
                filters=form.filters(),
                options=form.options(),
            )
        except SchemaError as exc:
            for error in exc.errors:
                form.add_error(None, str(error))
        else:
            messages.success(request, f"Snapshot “{snapshot.name}” is queued.")
            return redirect("curation:snapshot_detail", project_id=project.pk, snapshot_id=snapshot.pk)
    return render(request, "curation/snapshot_create.html", {"project": project, "form": form})


@login_required
@require_GET
def snapshot_detail_view(request: HttpRequest, project_id: int, snapshot_id: int) -> HttpResponse:
    project = _project(request, project_id)
    snapshot = snapshot_get(project=project, snapshot_id=snapshot_id)
    context = {
        "project": project,
        "snapshot": snapshot,
        "manifest_json": json.dumps(snapshot.manifest, indent=2, sort_keys=True) if snapshot.manifest else "",
    }
    return render(request, "curation/snapshot_detail.html", context)


@login_required
@require_GET
def snapshot_status_view(request: HttpRequest, project_id: int, snapshot_id: int) -> HttpResponse:
    """The status partial that the list and detail pages poll every second until the build ends."""
    project = _project(request, project_id)
    snapshot = snapshot_get(project=project, snapshot_id=snapshot_id)
    detail = request.GET.get("detail") == "1"
    context = {"project": project, "snapshot": snapshot, "detail": detail}
    response = render(request, "curation/_snapshot_status.html", context)
    if snapshot.is_finished:
        response.status_code = HTMX_STOP_POLLING
        if detail:
            response["HX-Refresh"] = "true"  # the detail page reloads to show the files and manifest
    return response


@login_required
@require_GET
def snapshot_download_view(request: HttpRequest, project_id: int, snapshot_id: int, name: str) -> FileResponse:
    project = _project(request, project_id)
    snapshot = snapshot_get(project=project, snapshot_id=snapshot_id)
    path = snapshot_file_path(snapshot=snapshot, name=name)
    # Who took a copy of the data, and from where: recorded once the file is known to be served.
    audit_record(
        actor=_user(request), action="snapshot.download", project=project, target=snapshot,
        details={"file": name, "via": "page"}, request=request,
    )  # fmt: skip
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"snapshot-{snapshot.pk}-{path.name}",
        content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    )
    # The bytes never change (immutable snapshot), but they are private: no shared caches.
    response["Cache-Control"] = "private, max-age=3600"
    return response
