"""Gold pages for admins: the gold fraction, gold items and their answers, accuracy over time."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.schemas import FREE_TEXT, SchemaError
from core.models import Project, Role, User
from core.selectors import project_get_for_user
from curation.forms_quality import AnswerForm, GoldFractionForm
from curation.selectors_gold import gold_accuracy_series, gold_candidates, gold_rows
from curation.selectors_quality import project_quality
from curation.selectors_review import item_review
from curation.services.gold import gold_fraction_set, gold_mark, gold_unmark

ADMIN_ONLY = (Role.ADMIN,)
NAV = {"staff": True, "admin": True}  # only admins reach these pages, and admins see every quality page


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _project(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=ADMIN_ONLY)


@login_required
@require_http_methods(["GET", "POST"])
def gold(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    quality = project_quality(project=project)
    initial = {"managed": quality.gold_fraction is not None, "gold_fraction": quality.gold_fraction}
    form = GoldFractionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            gold_fraction_set(user=_user(request), project=project, fraction=form.fraction())
        except SchemaError as exc:
            for error in exc.errors:
                form.add_error(None, str(error))
        else:
            messages.success(request, "Gold settings saved.")
            return redirect("quality:gold", project_id=project.pk)
    candidates = Paginator(gold_candidates(project=project), 25).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "nav": NAV,
        "form": form,
        "rows": gold_rows(project=project),
        "candidates": candidates,
        "gold_data": gold_accuracy_series(project=project),
        "free_text": project.task_kind == FREE_TEXT,
    }
    return render(request, "curation/quality/gold.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def gold_item(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = _project(request, project_id)
    review = item_review(project=project, item_id=item_id)
    form = AnswerForm(
        request.POST or None, project=project, responses=[(r.id, r.label) for r in review.responses], gold=True
    )
    if request.method == "POST" and form.is_valid():
        try:
            gold_mark(user=_user(request), project=project, item_id=item_id, answer=form.answer())
        except SchemaError as exc:
            for error in exc.errors:
                form.add_error(None, str(error))
        else:
            messages.success(request, f"Item {item_id} is gold.")
            return redirect("quality:gold", project_id=project.pk)
    context = {
        "project": project,
        "nav": NAV,
        "review": review,
        "form": form,
        "free_text": project.task_kind == FREE_TEXT,
    }
    return render(request, "curation/quality/gold_item.html", context)


@login_required
@require_POST
def gold_item_unmark(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = _project(request, project_id)
    gold_unmark(user=_user(request), project=project, item_id=item_id)
    messages.success(request, f"Item {item_id} is ordinary data again.")
    return redirect("quality:gold", project_id=project.pk)
