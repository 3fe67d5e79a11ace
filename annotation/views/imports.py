"""Import pages for project admins: upload a file (or give its URL), follow its job, read the summary.

Everyone but the project's admins gets a 404, as for any object they may not see.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from annotation.imports.examples import shape_examples
from annotation.imports.fetch import MAX_URL_CHARS, import_job_create_from_url
from annotation.imports.records import EXTENSIONS
from annotation.schemas import SchemaError
from annotation.selectors_imports import import_job_get, import_job_list
from annotation.services.imports import import_job_create, import_target, max_file_bytes, max_record_bytes
from core.models import Project, Role, User
from core.selectors import project_get_for_user

# htmx stops an ``every`` poll when the answer has this status (and still swaps the content).
HTMX_STOP_POLLING = 286


class ImportUploadForm(forms.Form):
    """A file to upload, or the URL of one for the worker to download (exactly one of the two)."""

    file = forms.FileField(required=False, help_text="JSONL, CSV or Parquet, UTF-8 text for JSONL and CSV.")
    # A CharField, not a URLField: Django's would prepend "http://" to anything and answer with its own
    # messages; the import service checks the URL and says why it refuses one.
    url = forms.CharField(
        required=False,
        max_length=MAX_URL_CHARS,
        label="Or the URL of a file",
        help_text="https://… ending in .jsonl, .csv or .parquet. Our server downloads it; internal addresses are refused.",
    )
    shape = forms.ChoiceField(required=False, help_text="Leave on “detect” unless the first row is ambiguous.")

    def __init__(self, *args: Any, shapes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shape = self.fields["shape"]
        assert isinstance(shape, forms.ChoiceField)
        shape.choices = [("", "Detect from the first row"), *shapes]
        self.fields["file"].widget.attrs["accept"] = ",".join(EXTENSIONS)
        self.fields["url"].widget.attrs.update(inputmode="url", placeholder="https://example.org/data.jsonl")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("file")) == bool((data.get("url") or "").strip()):
            raise forms.ValidationError("Choose a file to upload or give the URL of one (one of the two).")
        return data


class _UploadLimit(FileUploadHandler):
    """Stops reading an upload once it passes the size limit, before it fills a temporary file.

    The rest of the body is read and dropped (``connection_reset=False``) so the browser gets the
    form back with the reason instead of a reset connection.
    """

    def __init__(self, limit: int, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _admin_project(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=[Role.ADMIN])


@login_required
@require_GET
def import_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    page = Paginator(import_job_list(project=project), 25).get_page(request.GET.get("page"))
    return render(request, "annotation/imports/import_list.html", {"project": project, "page": page})


@csrf_exempt  # CSRF is checked by _import_create, after our upload handler is in place
@login_required
@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest, project_id: int) -> HttpResponse:
    # Upload handlers must be set before anything reads the body, and the CSRF middleware reads it
    # to find the token: so the check moves inside (Django's documented pattern for this case).
    project = _admin_project(request, project_id)
    limit = _UploadLimit(max_file_bytes(), request)
    request.upload_handlers.insert(0, limit)
    return _import_create(request, project, limit)


@csrf_protect
def _import_create(request: HttpRequest, project: Project, limit: _UploadLimit) -> HttpResponse:
    target = import_target(project)
    examples = shape_examples(target)
    shapes = [(e.shape.value, e.label) for e in examples if e.fits]
    form = ImportUploadForm(request.POST or None, request.FILES or None, shapes=shapes)
    if request.method == "POST":
        if limit.exceeded:
            # The handler dropped the file, so the form would only say "required": say why instead.
            form.is_valid()
            form.errors["file"] = form.error_class(
                [f"The file is larger than the limit of {filesizeformat(limit.limit)}."]
            )
        elif form.is_valid():
            shape = form.cleaned_data["shape"] or None
            try:
                if form.cleaned_data["url"]:
                    job = import_job_create_from_url(
                        project=project, user=_user(request), url=form.cleaned_data["url"], shape=shape
                    )
                else:
                    job = import_job_create(
                        project=project, user=_user(request), uploaded_file=form.cleaned_data["file"], shape=shape
                    )
            except SchemaError as exc:
                for error in exc.errors:
                    form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, f"“{job.original_filename}” is queued for import.")
                return redirect("annotation:import_detail", project_id=project.pk, job_id=job.pk)
    context = {
        "project": project,
        "form": form,
        "examples": examples,
        "target": target,
        "max_file_bytes": max_file_bytes(),
        "max_record_bytes": max_record_bytes(),
        "extensions": list(EXTENSIONS),
    }
    return render(request, "annotation/imports/import_create.html", context, status=413 if limit.exceeded else 200)


@login_required
@require_GET
def import_detail(request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    job = import_job_get(project=project, job_id=job_id)
    return render(request, "annotation/imports/import_detail.html", {"project": project, "job": job})


@login_required
@require_GET
def import_status(request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
    """The status partial the job page polls every second; answers 286 (stop) once the job has ended."""
    project = _admin_project(request, project_id)
    job = import_job_get(project=project, job_id=job_id)
    return render(
        request,
        "annotation/imports/import_detail.html#status",
        {"project": project, "job": job},
        status=HTMX_STOP_POLLING if job.is_finished else 200,
    )
