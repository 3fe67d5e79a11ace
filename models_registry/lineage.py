"""Lineage: where an object of the loop came from and what it produced.

The chain is judgment → snapshot → training run → checkpoint → generated responses → new items → new
judgments. Every object is looked up inside one project (an id from another project is "not found"),
and each list is capped (``LIMIT``) with the full count beside it, so a checkpoint with a million
generated responses still answers at once.

A judgment is "in" a snapshot when the snapshot's cut-off (``manifest.last_judgment_id``) covers it and
the snapshot's filters select it: the filters are re-applied now, so a review that rejected the judgment
after the snapshot was built is reflected here, not in the snapshot's frozen files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, QuerySet

from annotation.models import Item, ItemResponse, Judgment, Response, Source
from core.models import Project
from curation.exporters.options import filters_parse
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.selectors import judgments_for_export
from models_registry.models import Checkpoint
from models_registry.models_jobs import GenerationJob
from training.models import TrainingRun

LIMIT = 20
KINDS = ("judgment", "snapshot", "run", "checkpoint", "response", "item")


class LineageNotFound(LookupError):
    """No object of that kind and id in this project."""


@dataclass(frozen=True)
class Node:
    kind: str
    pk: int
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Group:
    title: str
    nodes: list[Node]
    total: int


@dataclass
class Lineage:
    node: Node
    upstream: list[Group] = field(default_factory=list)
    downstream: list[Group] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def group(g: Group) -> dict[str, Any]:
            return {"title": g.title, "total": g.total, "nodes": [node(n) for n in g.nodes]}

        def node(n: Node) -> dict[str, Any]:
            return {"kind": n.kind, "id": n.pk, "label": n.label, "detail": n.detail}

        return {
            "node": node(self.node),
            "upstream": [group(g) for g in self.upstream],
            "downstream": [group(g) for g in self.downstream],
        }


def _group(title: str, queryset: QuerySet[Any], to_node: Any) -> Group:
    return Group(title, [to_node(obj) for obj in queryset[:LIMIT]], queryset.count())


def _single(title: str, nodes: list[Node]) -> Group:
    return Group(title, nodes, len(nodes))


def _checkpoint_node(c: Checkpoint) -> Node:
    return Node("checkpoint", c.pk, c.name, c.get_kind_display())


def _run_node(r: TrainingRun) -> Node:
    return Node("run", r.pk, f"Run {r.pk} ({r.get_kind_display()})", r.get_status_display())


def _snapshot_node(s: DatasetSnapshot) -> Node:
    return Node("snapshot", s.pk, f"Snapshot {s.pk}: {s.name}", s.get_status_display())


def _judgment_node(j: Judgment) -> Node:
    return Node("judgment", j.pk, f"Judgment {j.pk}", f"item {j.item_id}, {j.kind}")


def _item_node(i: Item) -> Node:
    return Node("item", i.pk, f"Item {i.pk}", f"{i.submitted_count}/{i.required} judgments")


def _response_node(r: Response) -> Node:
    text = r.text if len(r.text) <= 80 else r.text[:79] + "…"
    return Node("response", r.pk, f"Response {r.pk}", text)


def _get(model: type[Model], project: Project, pk: int, **lookup: Any) -> Any:
    obj = model._default_manager.filter(pk=pk, **lookup).first()
    if obj is None:
        raise LineageNotFound(f"no {model.__name__.lower()} {pk} in project {project.pk}")
    return obj


def _snapshots_holding(judgment: Judgment) -> list[DatasetSnapshot]:
    holding = []
    candidates = DatasetSnapshot.objects.filter(project_id=judgment.project_id, status=SnapshotStatus.SUCCEEDED)
    for snapshot in candidates.order_by("-created_at")[:200]:
        cutoff = snapshot.manifest.get("last_judgment_id")
        if not isinstance(cutoff, int) or cutoff < judgment.pk:
            continue
        selected = judgments_for_export(project=snapshot.project, filters=filters_parse(snapshot.filters))
        if selected.filter(pk=judgment.pk).exists():
            holding.append(snapshot)
    return holding


def _generated_by(project: Project, checkpoint: Checkpoint) -> QuerySet[Response]:
    return Response.objects.filter(
        prompt__project=project, source=Source.GENERATED, source_detail__checkpoint_id=checkpoint.pk
    ).order_by("pk")


def lineage_of(*, project: Project, kind: str, pk: int) -> Lineage:
    """The lineage of object ``kind``/``pk`` of ``project``. Raises LineageNotFound."""
    if kind == "judgment":
        judgment: Judgment = _get(Judgment, project, pk, project_id=project.pk)
        item = judgment.item
        snapshots = _snapshots_holding(judgment)
        runs = TrainingRun.objects.filter(snapshot__in=snapshots).order_by("pk")
        return Lineage(
            _judgment_node(judgment),
            upstream=[
                _single("Item", [_item_node(item)]),
                _group("Responses judged", _responses_of_item(item), _response_node),
            ],
            downstream=[
                _single("Snapshots that include it", [_snapshot_node(s) for s in snapshots[:LIMIT]]),
                _group("Runs trained on those snapshots", runs, _run_node),
                _group(
                    "Checkpoints of those runs",
                    Checkpoint.objects.filter(run__in=runs).order_by("pk"),
                    _checkpoint_node,
                ),
            ],
        )
    if kind == "snapshot":
        snapshot: DatasetSnapshot = _get(DatasetSnapshot, project, pk, project_id=project.pk)
        runs = TrainingRun.objects.filter(snapshot=snapshot).order_by("pk")
        cutoff = snapshot.manifest.get("last_judgment_id")
        judgments = (
            judgments_for_export(project=project, filters=filters_parse(snapshot.filters))
            .filter(pk__lte=cutoff if isinstance(cutoff, int) else 0)
            .order_by("pk")
        )
        return Lineage(
            _snapshot_node(snapshot),
            upstream=[_group("Judgments (filters re-applied now)", judgments, _judgment_node)],
            downstream=[
                _group("Training runs", runs, _run_node),
                _group("Checkpoints", Checkpoint.objects.filter(run__in=runs).order_by("pk"), _checkpoint_node),
            ],
        )
    if kind == "run":
        run: TrainingRun = _get(TrainingRun, project, pk, project_id=project.pk)
        return Lineage(
            _run_node(run),
            upstream=[
                _single("Snapshot", [_snapshot_node(run.snapshot)]),
                _single("Base checkpoint", [_checkpoint_node(run.base_checkpoint)]),
            ],
            downstream=[_group("Checkpoint", Checkpoint.objects.filter(run=run), _checkpoint_node)],
        )
    if kind == "checkpoint":
        checkpoint: Checkpoint = _get(Checkpoint, project, pk, project_id=project.pk)
        up = []
        if checkpoint.run_id is not None:
            run = checkpoint.run  # type: ignore[assignment]
            up = [
                _single("Training run", [_run_node(run)]),
                _single("Snapshot", [_snapshot_node(run.snapshot)]),
                _single("Base checkpoint", [_checkpoint_node(run.base_checkpoint)]),
            ]
        generated = _generated_by(project, checkpoint)
        items = Item.objects.filter(project=project, item_responses__response__in=generated).distinct().order_by("pk")
        return Lineage(
            _checkpoint_node(checkpoint),
            upstream=up,
            downstream=[
                _group("Generated responses", generated, _response_node),
                _group("Items with those responses", items, _item_node),
                _group(
                    "Judgments of those items",
                    Judgment.objects.filter(project=project, item__in=items).order_by("pk"),
                    _judgment_node,
                ),
                _group("Runs that start from it", TrainingRun.objects.filter(base_checkpoint=checkpoint), _run_node),
            ],
        )
    if kind == "response":
        response: Response = _get(Response, project, pk, prompt__project=project)
        items = Item.objects.filter(project=project, item_responses__response=response).order_by("pk")
        up = [_single("Source", [Node("source", 0, response.get_source_display())])]
        checkpoint_id = (
            response.source_detail.get("checkpoint_id") if isinstance(response.source_detail, dict) else None
        )
        if isinstance(checkpoint_id, int):
            found = Checkpoint.objects.filter(project=project, pk=checkpoint_id).first()
            job_id = response.source_detail.get("generation_job")
            job = GenerationJob.objects.filter(project=project, pk=job_id).first() if isinstance(job_id, int) else None
            up = [
                _single("Generated by", [_checkpoint_node(found)] if found else []),
                _single("Generation job", [Node("generation_job", job.pk, f"Job {job.pk}")] if job else []),
            ]
        return Lineage(
            _response_node(response),
            upstream=up,
            downstream=[
                _group("Items", items, _item_node),
                _group(
                    "Judgments", Judgment.objects.filter(project=project, item__in=items).order_by("pk"), _judgment_node
                ),
            ],
        )
    if kind == "item":
        item = _get(Item, project, pk, project_id=project.pk)
        return Lineage(
            _item_node(item),
            upstream=[_group("Responses", _responses_of_item(item), _response_node)],
            downstream=[
                _group("Judgments", Judgment.objects.filter(project=project, item=item).order_by("pk"), _judgment_node)
            ],
        )
    raise LineageNotFound(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")


def _responses_of_item(item: Item) -> QuerySet[Response]:
    ids = ItemResponse.objects.filter(item=item).values("response_id")
    return Response.objects.filter(pk__in=ids).order_by("pk")
