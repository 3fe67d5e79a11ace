"""Quality pages: the dashboard, the review queue, an item's judgments with adjudication.

Interfaces only: each view parses, calls one service or selector, and renders. Reviewers, researchers
and admins see the dashboard (per-annotator parts for reviewers and admins only); reviewers and
admins review. Everyone else, annotators included, gets a 404 for the project.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from annotation.schemas import SchemaError
from core.models import Project, Role, User
from core.selectors import project_get_for_user
from curation.forms_quality import AnswerForm, ReviewForm
from curation.selectors_quality import READ_ROLES, STAFF_ROLES, dashboard_data, reliability_list
from curation.selectors_review import (
    QUEUE_STATES,
    item_review,
    queue_counts,
    review_card,
    review_cards,
    review_queryset,
)
from curation.services.gold import gold_may
from curation.services.review import adjudication_record, review_may, review_record

QUEUE_PAGE = 20


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _project(request: HttpRequest, project_id: int, roles: tuple[Role, ...]) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=roles)


def quality_nav(*, user: User, project: Project) -> dict[str, bool]:
    """Which quality pages the user may open: the navigation shows only those."""
    return {"staff": review_may(user=user, project=project), "admin": gold_may(user=user, project=project)}


@login_required
@require_GET
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id, READ_ROLES)
    nav = quality_nav(user=_user(request), project=project)
    staff = nav["staff"]
    context = {
        "project": project,
        "nav": nav,
        "data": dashboard_data(project=project, staff=staff),
        "annotators": reliability_list(project=project) if staff else [],
    }
    return render(request, "curation/quality/dashboard.html", context)


@login_required
@require_POST
def recompute(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id, STAFF_ROLES)
    from curation.tasks_quality import recompute_quality  # the task module imports the services

    recompute_quality.delay(project.pk)
    messages.success(request, "Recomputing the statistics in the background; reload in a moment.")
    return redirect("quality:dashboard", project_id=project.pk)


@login_required
@require_GET
def review_queue(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id, STAFF_ROLES)
    state = request.GET.get("state", "unreviewed")
    state = state if state in QUEUE_STATES else "unreviewed"
    page = Paginator(review_queryset(project=project, reviewer=_user(request), state=state), QUEUE_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "project": project,
        "nav": quality_nav(user=_user(request), project=project),
        "state": state,
        "page": page,
        "cards": review_cards(project=project, judgments=list(page.object_list)),
        "counts": queue_counts(project=project, reviewer=_user(request)),
        "form": ReviewForm(),
    }
    return render(request, "curation/quality/review_queue.html", context)


@login_required
@require_POST
def review_decide(request: HtmxHttpRequest, project_id: int, judgment_id: int) -> HttpResponse:
    """Record a decision. With htmx the judgment's card comes back in its new state, in place."""
    project = _project(request, project_id, STAFF_ROLES)
    if review_card(project=project, reviewer=_user(request), judgment_id=judgment_id) is None:
        # Another project's judgment id is a 404 before the form is read (no 200-with-error oracle).
        raise Http404("No such judgment.")
    form = ReviewForm(request.POST)
    error = ""
    try:
        if not form.is_valid():
            raise SchemaError([])
        review_record(
            reviewer=_user(request),
            project=project,
            judgment_id=judgment_id,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
        )
    except SchemaError as exc:
        error = str(exc) or "Choose accept, reject or flag, with a note of at most 2,000 characters."
    except PermissionDenied as exc:
        error = str(exc)
    if not request.htmx:
        if error:
            messages.error(request, error)
        state = request.POST.get("state", "unreviewed")
        tab = f"?state={state}" if state in QUEUE_STATES else ""
        return redirect(reverse("quality:review_queue", args=[project.pk]) + tab)
    card = review_card(project=project, reviewer=_user(request), judgment_id=judgment_id)
    state = request.POST.get("state", "unreviewed")
    context = {
        "project": project,
        "card": card,
        "error": error,
        # The tab counts change with every decision: sent along out of band (hx-swap-oob).
        "oob": True,
        "state": state if state in QUEUE_STATES else "unreviewed",
        "counts": queue_counts(project=project, reviewer=_user(request)),
    }
    # 200 even with an error: htmx swaps only successful responses, and the card says what went wrong.
    return render(request, "curation/quality/_review_card.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def item_detail(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = _project(request, project_id, STAFF_ROLES)
    review = item_review(project=project, item_id=item_id)
    responses = [(r.id, r.label) for r in review.responses]
    form = AnswerForm(request.POST or None, project=project, responses=responses, gold=False)
    if request.method == "POST" and form.is_valid():
        try:
            adjudication_record(
                user=_user(request),
                project=project,
                item_id=item_id,
                answer=form.answer(),
                note=form.cleaned_data.get("note", ""),
            )
        except SchemaError as exc:
            for error in exc.errors:
                form.add_error(None, str(error))
        else:
            messages.success(request, "The final answer for this item is recorded.")
            return redirect("quality:item_detail", project_id=project.pk, item_id=item_id)
    context = {
        "project": project,
        "nav": quality_nav(user=_user(request), project=project),
        "review": review,
        "form": form,
        "free_text": project.task_kind == "free_text",
    }
    return render(request, "curation/quality/item.html", context)
