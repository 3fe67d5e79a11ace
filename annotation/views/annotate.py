"""The annotator's page: one task at a time, keyboard first, with the next task already waiting.

Each view parses the request, calls one queue service, and renders: a partial (the content of the
page's ``#task-region``) for htmx and the page's script, which send ``HX-Request``; the whole page
otherwise, and a redirect back to the page after a successful POST.

Submit -> next item without a wait. While an item is open, ``static/js/annotate.js`` asks
``prefetch`` for the item after it: ``assignment_prefetch`` leases one more item (never more than
one ahead) and the partial comes back marked ``hidden``; the script keeps it in memory. On submit
the script swaps that partial in at once and posts the answer in the background. The submit
request names the item it swapped in (``X-Prefetched: <assignment id>``); while the annotator
still holds that lease, the response is only the progress counts (``_progress.html``), so a long
conversation is not rendered and sent a second time. Had the lease gone meanwhile, the response is
the next task partial, rendered by ``assignment_claim_next`` (the annotator's oldest live lease, or a
new one), and the script shows it instead, so server and screen agree. An error (422 with field
errors, 409 when the lease ran out, 404) is shown in place of the pre-fetched item, which stays
leased and is pre-fetched again. Without a pre-fetched item (first load, or it is about to expire)
the script waits for the response and shows it. The next prefetch starts only after the submit has
returned: asked earlier, the server would still count the item being submitted as live and offer
it as "next".
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from annotation.models import Assignment, AssignmentStatus
from annotation.schemas import FieldError, SchemaError
from annotation.selectors import (
    ResponseRow,
    annotator_progress,
    assignment_get_for_annotator,
    assignment_view,
    lease_is_live,
)
from annotation.services.queue import (
    ANNOTATING_ROLES,
    InvalidPayload,
    LeaseClosed,
    LeaseExpired,
    LeaseNotFound,
    NotAMember,
    QueueError,
    assignment_claim_next,
    assignment_prefetch,
    assignment_release,
    judgment_submit,
)
from annotation.suggestions import suggestion_for
from annotation.views.shortcuts import shortcuts
from annotation.views.task_form import (
    FLAG_REASONS,
    SKIP_REASONS,
    UnreadableAnswer,
    payload_from_post,
    release_reason_from_post,
    task_form,
)
from core.models import Project, User
from core.selectors import project_get_for_user

_DIR = "annotation/annotate/"
PAGE = _DIR + "page.html"
TASK = _DIR + "_task.html"
EMPTY = _DIR + "_empty.html"
MESSAGE = _DIR + "_message.html"
PROGRESS = _DIR + "_progress.html"

# What the annotator is told for each refusal: a title, and the status the response carries.
_REFUSALS: dict[type[QueueError], tuple[str, int]] = {
    LeaseExpired: ("Your time on this item ran out", 409),
    LeaseClosed: ("This item is already done", 409),
    LeaseNotFound: ("This item is not yours", 404),
    NotAMember: ("You are not an annotator here", 403),
}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _annotator(request: HttpRequest) -> User:
    # login_required ran first, so this is a signed-in user of our own model.
    user = request.user
    assert isinstance(user, User)
    return user


def _project(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=_annotator(request), project_id=project_id, roles=ANNOTATING_ROLES)


def _respond(
    request: HtmxHttpRequest, project: Project, region: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """``region`` alone for htmx and script requests, else the page with ``region`` in its task area."""
    context = {"project": project, "region": region, **context}
    if request.htmx:
        return render(request, region, context, status=status)
    context["shortcuts"] = shortcuts(project.task_kind, project.task_config)
    return render(request, PAGE, context, status=status)


def _task_context(
    request: HttpRequest,
    project: Project,
    assignment: Assignment,
    *,
    values: Any = None,
    errors: list[FieldError] | None = None,
    release: tuple[str, list[FieldError]] | None = None,
    hidden: bool = False,
    responses: list[ResponseRow] | None = None,
    messages: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    view = assignment_view(assignment=assignment, responses=responses, messages=messages)
    minutes, seconds = divmod(view.seconds_left, 60)
    suggestion = suggestion_for(project=project, item=assignment.item, shown_ids=[r.id for r in view.responses])
    if suggestion is not None and values is None:
        values = {"outcome": "preferred", "preferred": suggestion["preferred"]}
    return {
        "task": view,
        "suggestion": suggestion,
        "form": task_form(project.task_kind, project.task_config, view.responses, values=values, errors=errors or ()),
        "form_template": f"{_DIR}_{project.task_kind}.html",
        "progress": annotator_progress(annotator=_annotator(request), project=project),
        # One key per rendering: a double-clicked submit sends it twice and is recorded once.
        "client_key": uuid.uuid4().hex,
        "uid": f"t{assignment.pk}",
        "time_left": f"{minutes}:{seconds:02d}",
        "hidden": hidden,
        "skip_reasons": SKIP_REASONS,
        "flag_reasons": FLAG_REASONS,
        # (which form, its errors) when a skip or flag came back without a usable reason.
        "release": release[0] if release else "",
        "release_errors": [e.message for e in release[1]] if release else [],
    }


def _next_task(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    claim = assignment_claim_next(annotator=_annotator(request), project=project)
    if claim.assignment is None:
        progress = annotator_progress(annotator=_annotator(request), project=project)
        return _respond(request, project, EMPTY, {"progress": progress})
    return _respond(
        request,
        project,
        TASK,
        _task_context(request, project, claim.assignment, responses=claim.responses or None, messages=claim.messages),
    )


def _refused(request: HtmxHttpRequest, project: Project, exc: QueueError) -> HttpResponse:
    title, status = _REFUSALS.get(type(exc), ("This item cannot be changed", 409))
    context = {"title": title, "message": str(exc), "code": exc.code}
    return _respond(request, project, MESSAGE, context, status=status)


def _show_again(request: HtmxHttpRequest, project: Project, assignment_id: int, **form_state: Any) -> HttpResponse:
    """The same task with what the annotator sent and what is wrong with it (status 422)."""
    assignment = assignment_get_for_annotator(
        annotator=_annotator(request), project=project, assignment_id=assignment_id
    )
    if assignment is None:
        missing = LeaseNotFound("This task is not assigned to you. Open the queue to get your next item.")
        return _refused(request, project, missing)
    context = _task_context(request, project, assignment, **form_state)
    return _respond(request, project, TASK, context, status=422)


def _after_post(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    if request.htmx:
        shown = _int(request.headers.get("X-Prefetched"))
        if shown and lease_is_live(annotator=_annotator(request), project=project, assignment_id=shown):
            # The script already shows that item: it needs the counts only, not the item again.
            progress = annotator_progress(annotator=_annotator(request), project=project)
            return render(request, PROGRESS, {"progress": progress})
        return _next_task(request, project)
    return redirect("annotation:annotate", project_id=project.pk)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


@never_cache
@vary_on_headers("HX-Request")  # the same URL is a page or a partial
@login_required
@require_GET
def annotate(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    try:
        return _next_task(request, project)
    except NotAMember as exc:
        return _refused(request, project, exc)


@never_cache
@login_required
@require_POST
def submit(request: HtmxHttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    project = _project(request, project_id)
    payload: Any = None
    try:
        payload = payload_from_post(project.task_kind, request.POST)
        judgment_submit(
            annotator=_annotator(request),
            project=project,
            assignment_id=assignment_id,
            payload=payload,
            client_key=request.POST.get("client_key", ""),
            time_spent_ms=_int(request.POST.get("time_spent_ms")),
            suggestion_checkpoint=_int(request.POST.get("suggestion_checkpoint")) or None,
        )
    except UnreadableAnswer as exc:
        return _show_again(request, project, assignment_id, values=exc.values, errors=exc.errors)
    except InvalidPayload as exc:
        return _show_again(request, project, assignment_id, values=payload, errors=exc.errors)
    except QueueError as exc:
        return _refused(request, project, exc)
    return _after_post(request, project)


def _release(
    request: HtmxHttpRequest, project_id: int, assignment_id: int, status: AssignmentStatus, which: str
) -> HttpResponse:
    project = _project(request, project_id)
    try:
        reason = release_reason_from_post(request.POST, SKIP_REASONS if which == "skip" else FLAG_REASONS)
        assignment_release(
            annotator=_annotator(request), project=project, assignment_id=assignment_id, status=status, reason=reason
        )
    except SchemaError as exc:
        return _show_again(request, project, assignment_id, release=(which, exc.errors))
    except QueueError as exc:
        return _refused(request, project, exc)
    return _after_post(request, project)


@never_cache
@login_required
@require_POST
def skip(request: HtmxHttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    return _release(request, project_id, assignment_id, AssignmentStatus.SKIPPED, "skip")


@never_cache
@login_required
@require_POST
def flag(request: HtmxHttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    return _release(request, project_id, assignment_id, AssignmentStatus.FLAGGED, "flag")


@never_cache
@login_required
@require_GET
def prefetch(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The task after ``?current=<assignment id>``, rendered hidden; 204 when there is none."""
    project = _project(request, project_id)
    try:
        current = int(request.GET.get("current", ""))
    except ValueError:
        return HttpResponseBadRequest("?current= must be an assignment id", content_type="text/plain")
    try:
        claim = assignment_prefetch(annotator=_annotator(request), project=project, current_id=current)
    except NotAMember as exc:
        return _refused(request, project, exc)
    if claim.assignment is None:
        return HttpResponse(status=204)
    context = {
        "project": project,
        **_task_context(
            request, project, claim.assignment, hidden=True, responses=claim.responses or None, messages=claim.messages
        ),
    }
    return render(request, TASK, context)
