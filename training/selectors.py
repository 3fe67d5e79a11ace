"""Reads for training pages: runs scoped by project, curve points, log tails, form choices."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from core.models import Project
from curation.models import DatasetSnapshot, SnapshotStatus
from models_registry.models import Checkpoint
from training.launch import KEY_METRIC
from training.models import RunMetric, TrainingRun, TrainingSchedule

MAX_CURVE_POINTS = 1000
LOG_TAIL_BYTES = 32 * 1024
LOG_TAIL_LINES = 200


@dataclass(frozen=True)
class RunRow:
    run: TrainingRun
    key_metric: str
    key_value: float | None


def run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return (
        TrainingRun.objects.filter(project=project)
        .select_related("snapshot", "base_checkpoint", "created_by", "schedule")
        .order_by("-created_at", "-id")
    )


def run_rows(*, project: Project, limit: int = 200) -> list[RunRow]:
    """The newest runs with the metric the promotion gate compares (final, else the latest evaluation)."""
    rows = []
    for run in run_list(project=project)[:limit]:
        name = KEY_METRIC[run.kind]
        value = run.metrics.get(name)
        if value is None:
            value = (run.latest_metrics.get("eval") or {}).get(name.removeprefix("eval_"))
        rows.append(RunRow(run=run, key_metric=name, key_value=value if isinstance(value, int | float) else None))
    return rows


def run_get(*, project: Project, run_id: int) -> TrainingRun:
    """The run if it belongs to ``project``, else Http404: another project's id looks like a missing one."""
    run = run_list(project=project).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


def run_checkpoint(*, run: TrainingRun) -> Checkpoint | None:
    return Checkpoint.objects.filter(run=run).first()


def _thin(ids: list[int], limit: int) -> list[int]:
    """At most ``limit`` ids, evenly spaced, always keeping the last (the newest point)."""
    if len(ids) <= limit:
        return ids
    stride = math.ceil(len(ids) / limit)
    kept = ids[::stride]
    return kept if kept[-1] == ids[-1] else [*kept, ids[-1]]


def run_curves(*, run: TrainingRun, since: int = 0, limit: int = MAX_CURVE_POINTS) -> dict[str, Any]:
    """Curve points after step ``since``, per split, as ``{"step": [...], "<metric>": [...]}`` columns.

    Two queries so that a long run stays cheap: the ids (thinned to ``limit`` per split), then only the
    values of the points kept. The page asks with ``since`` = its last step, so polls read new rows only.
    """
    points = RunMetric.objects.filter(run=run, step__gt=since)
    curves: dict[str, Any] = {}
    for split in ("train", "eval"):
        ids = _thin(list(points.filter(split=split).order_by("step", "id").values_list("id", flat=True)), limit)
        columns: dict[str, list[Any]] = {"step": []}
        rows = RunMetric.objects.filter(id__in=ids).order_by("step", "id").values_list("step", "values")
        for n, (step, values) in enumerate(rows):
            columns["step"].append(step)
            for name, value in values.items():
                if name != "step" and (isinstance(value, int | float) or value is None):
                    columns.setdefault(name, [None] * n).append(value)
            for column in columns.values():  # a metric missing at this point is a gap, not a shift
                if len(column) < n + 1:
                    column.append(None)
        curves[split] = columns
    last = max([since, *curves["train"]["step"], *curves["eval"]["step"]])
    return {
        "status": run.status,
        "finished": run.is_finished,
        "step": run.step,
        "total": run.total,
        "last_step": last,
        **curves,
    }


def run_log_tail(*, run: TrainingRun, max_bytes: int = LOG_TAIL_BYTES, max_lines: int = LOG_TAIL_LINES) -> str:
    """The end of the child's log: tracebacks, warnings and event lines. Empty before the first start."""
    if not run.log_path:
        return ""
    root = os.path.realpath(settings.MEDIA_ROOT)
    path = os.path.realpath(os.path.join(root, run.log_path))
    if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
        return ""
    with Path(path).open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - max_bytes))
        data = handle.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes:
        lines = lines[1:]  # the first line is cut in the middle
    return "\n".join(lines[-max_lines:])


def snapshots_trainable(*, project: Project) -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.filter(project=project, status=SnapshotStatus.SUCCEEDED).order_by("-created_at")


def checkpoints_for(*, project: Project) -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(project=project).order_by("-created_at", "-id")


def schedule_list(*, project: Project) -> QuerySet[TrainingSchedule]:
    return (
        TrainingSchedule.objects.filter(project=project)
        .select_related("base_checkpoint", "created_by")
        .order_by("name", "id")
    )


def schedule_get(*, project: Project, schedule_id: int) -> TrainingSchedule:
    schedule = schedule_list(project=project).filter(pk=schedule_id).first()
    if schedule is None:
        raise Http404("No such schedule.")
    return schedule
