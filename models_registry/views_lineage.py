"""The lineage page: one object of the loop, what it came from and what it produced (links both ways)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from models_registry.lineage import KINDS, LineageNotFound, Node, lineage_of
from models_registry.views import _viewable

ID_KWARG = {kind: f"{kind}_id" for kind in KINDS}


def lineage_url(project_id: int, node: Node) -> str | None:
    if node.kind not in KINDS:
        return None
    return reverse(f"models_registry:lineage_{node.kind}", args=[project_id, node.pk])


@login_required
@require_GET
def lineage_view(request: HttpRequest, project_id: int, kind: str, **ids: int) -> HttpResponse:
    project = _viewable(request, project_id)
    try:
        lineage = lineage_of(project=project, kind=kind, pk=ids[ID_KWARG[kind]])
    except LineageNotFound as exc:
        raise Http404(str(exc)) from exc

    def linked(nodes: list[Node]) -> list[tuple[Node, str | None]]:
        return [(n, lineage_url(project.pk, n)) for n in nodes]

    context = {
        "project": project,
        "lineage": lineage,
        "upstream": [(g, linked(g.nodes)) for g in lineage.upstream],
        "downstream": [(g, linked(g.nodes)) for g in lineage.downstream],
    }
    return render(request, "models_registry/lineage.html", context)
