"""Training schedules: retrain every N new judgments, or on a cron, through a fresh snapshot each time.

A trigger goes in three short steps, so no lock is held while a snapshot is written (on the embedded
SQLite a long write transaction would block every annotator's submit):

1. under the schedule's row lock: refuse when a run of this schedule is active or a snapshot of it is
   pending; else create the snapshot (``curation.services.snapshots.snapshot_create``), remember it as
   ``pending_snapshot`` and move the judgment watermark;
2. build it (``snapshot_build``; if the build task got there first this is a no-op);
3. under the lock again: when the snapshot succeeded, create the run and clear ``pending_snapshot``.

Step 3 is also retried by the beat task ``training.check_schedules``, so a snapshot built elsewhere
still gets its run. Runs and snapshots are created on behalf of the schedule's creator, who must still
be an admin of the project.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery.schedules import crontab
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from annotation.models import Judgment
from annotation.schemas import FieldError, SchemaError
from core.audit import audit_record
from core.models import Project, User
from curation.exporters.options import options_parse
from curation.models import SnapshotStatus
from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.models import Checkpoint
from training.launch import TABLE_FOR_KIND, params_check
from training.models import ACTIVE_STATUSES, RunKind, ScheduleTrigger, TrainingRun, TrainingSchedule
from training.presets import PRESETS
from training.services.runs import run_create, run_may_manage

CRON_TASK = "training.trigger_schedule"
MAX_EVERY_N = 10_000_000


class TriggerOutcome(enum.StrEnum):
    RUN_CREATED = "run_created"
    SNAPSHOT_PENDING = "snapshot_pending"
    NOT_DUE = "not_due"
    BUSY = "busy"  # a run of this schedule is active, or its snapshot is still being built
    DISABLED = "disabled"
    FAILED = "failed"


@dataclass(frozen=True)
class TriggerResult:
    outcome: TriggerOutcome
    message: str
    run: TrainingRun | None = None


def _cron_fields(cron: str) -> dict[str, str]:
    parts = cron.split()
    if len(parts) != 5:
        raise ValueError("write five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    fields = {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }
    crontab(**fields)  # celery's parser: raises ValueError on anything it would not run
    return fields


def _default_options(kind: str) -> dict[str, Any]:
    return {"tables": [TABLE_FOR_KIND[RunKind(kind)]], "file_format": "jsonl", "test_fraction": 0.1}


def _latest_judgment_id(project: Project) -> int:
    return int(Judgment.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0)


def schedule_create(
    *,
    project: Project,
    user: User,
    name: str,
    kind: str,
    trigger: str,
    base_checkpoint: Checkpoint | None,
    params: Mapping[str, Any],
    preset: str = "",
    every_n_judgments: int | None = None,
    cron: str = "",
    snapshot_options: Mapping[str, Any] | None = None,
) -> TrainingSchedule:
    """A schedule of ``project`` (admins only), validated like a run; a cron gets its beat entry."""
    if not run_may_manage(user=user, project=project):
        raise PermissionDenied("Only admins of this project schedule training.")
    errors: list[FieldError] = []
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors.append(FieldError("name", "give the schedule a name of 1 to 200 characters"))
    if preset and preset not in PRESETS:
        errors.append(FieldError("preset", f"unknown preset {preset!r}"))
    cron_fields: dict[str, str] = {}
    if trigger == ScheduleTrigger.JUDGMENTS:
        if every_n_judgments is None or not 1 <= every_n_judgments <= MAX_EVERY_N:
            errors.append(FieldError("every_n_judgments", f"a number of judgments from 1 to {MAX_EVERY_N}"))
    elif trigger == ScheduleTrigger.CRON:
        try:
            cron_fields = _cron_fields(cron)
        except ValueError as exc:
            errors.append(FieldError("cron", str(exc)))
    else:
        errors.append(FieldError("trigger", f"must be one of {', '.join(ScheduleTrigger.values)}"))
    options = dict(snapshot_options) if snapshot_options else _default_options(kind) if kind in RunKind.values else {}
    try:
        options = options_parse(options).model_dump(mode="json")
    except SchemaError as exc:
        errors.extend(FieldError(f"snapshot_options.{e.field}", e.message) for e in exc.errors)
    clean: dict[str, Any] = {}
    try:
        clean = params_check(project=project, kind=kind, base_checkpoint=base_checkpoint, params=params)
    except SchemaError as exc:
        errors.extend(exc.errors)
    if errors or base_checkpoint is None:
        raise SchemaError(errors)
    with transaction.atomic():
        schedule = TrainingSchedule.objects.create(
            project=project,
            name=name,
            kind=kind,
            trigger=trigger,
            every_n_judgments=every_n_judgments if trigger == ScheduleTrigger.JUDGMENTS else None,
            cron=" ".join(cron_fields.values()),
            base_checkpoint=base_checkpoint,
            preset=preset,
            params=clean,
            snapshot_options=options,
            judgment_watermark=_latest_judgment_id(project),  # "new" means after the schedule exists
            created_by=user,
        )
        if cron_fields:
            when, _ = CrontabSchedule.objects.get_or_create(**cron_fields, timezone="UTC")
            schedule.periodic_task = PeriodicTask.objects.create(
                name=f"training-schedule-{schedule.pk}", task=CRON_TASK, crontab=when, args=json.dumps([schedule.pk])
            )
            schedule.save(update_fields=["periodic_task"])
    return schedule


def schedule_set_enabled(*, schedule: TrainingSchedule, user: User, enabled: bool) -> TrainingSchedule:
    if not run_may_manage(user=user, project=schedule.project):
        raise PermissionDenied("Only admins of this project change schedules.")
    with transaction.atomic():
        TrainingSchedule.objects.filter(pk=schedule.pk).update(enabled=enabled)
        if schedule.periodic_task_id is not None:
            PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(enabled=enabled)
    schedule.refresh_from_db()
    return schedule


def schedule_delete(*, schedule: TrainingSchedule, user: User) -> None:
    """Delete the schedule and its beat entry; its past runs stay (their ``schedule`` becomes empty)."""
    if not run_may_manage(user=user, project=schedule.project):
        raise PermissionDenied("Only admins of this project delete schedules.")
    with transaction.atomic():
        if schedule.periodic_task_id is not None:
            PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
        # Recorded before the row goes (its id is the event's target) and in the same transaction, so
        # a delete that rolls back leaves no event. The details keep what the schedule did.
        audit_record(
            actor=user, action="training.schedule_delete", project=schedule.project, target=schedule,
            details={
                "name": schedule.name, "kind": schedule.kind, "trigger": schedule.trigger,
                "every_n_judgments": schedule.every_n_judgments, "cron": schedule.cron,
            },
        )  # fmt: skip
        schedule.delete()


def _note(
    schedule: TrainingSchedule, outcome: TriggerOutcome, message: str, run: TrainingRun | None = None
) -> TriggerResult:
    TrainingSchedule.objects.filter(pk=schedule.pk).update(last_message=message[:2000])
    return TriggerResult(outcome, message, run)


def schedule_trigger(*, schedule_id: int) -> TriggerResult:
    """Start a snapshot and then a run for the schedule if it is due and idle (module docstring)."""
    with transaction.atomic():
        schedule = (
            TrainingSchedule.objects.select_for_update(of=("self",))
            .select_related("project")
            .filter(pk=schedule_id)
            .first()
        )
        if schedule is None or not schedule.enabled:
            return TriggerResult(TriggerOutcome.DISABLED, "The schedule is disabled or gone.")
        if schedule.pending_snapshot_id is not None:
            pending = schedule.pending_snapshot_id
        else:
            if TrainingRun.objects.filter(schedule=schedule, status__in=ACTIVE_STATUSES).exists():
                return _note(
                    schedule, TriggerOutcome.BUSY, "Skipped: the previous run of this schedule is still active."
                )
            latest = _latest_judgment_id(schedule.project)
            new = Judgment.objects.filter(project=schedule.project, id__gt=schedule.judgment_watermark).count()
            due = new >= (schedule.every_n_judgments or 1)
            if not due:
                return TriggerResult(TriggerOutcome.NOT_DUE, f"{new} new judgment(s) since the last run.")
            try:
                snapshot = snapshot_create(
                    project=schedule.project,
                    user=schedule.created_by,
                    name=f"{schedule.name} · {timezone.now():%Y-%m-%d %H:%M}",
                    filters={},
                    options=schedule.snapshot_options,
                )
            except (PermissionDenied, SchemaError) as exc:
                return _note(schedule, TriggerOutcome.FAILED, f"Could not create the snapshot: {exc}")
            pending = snapshot.pk
            TrainingSchedule.objects.filter(pk=schedule.pk).update(
                pending_snapshot=snapshot, judgment_watermark=latest, last_triggered_at=timezone.now()
            )
    snapshot_build(snapshot_id=pending)
    return schedule_advance(schedule_id=schedule_id)


def schedule_advance(*, schedule_id: int) -> TriggerResult:
    """Step 3: turn the schedule's built snapshot into a run (or give up on a failed one)."""
    with transaction.atomic():
        schedule = (
            TrainingSchedule.objects.select_for_update(of=("self",))
            .select_related("project", "pending_snapshot", "base_checkpoint", "created_by")
            .filter(pk=schedule_id)
            .first()
        )
        if schedule is None or schedule.pending_snapshot is None:
            return TriggerResult(TriggerOutcome.NOT_DUE, "No snapshot is pending.")
        snapshot = schedule.pending_snapshot
        if snapshot.status in (SnapshotStatus.QUEUED, SnapshotStatus.RUNNING):
            return TriggerResult(TriggerOutcome.SNAPSHOT_PENDING, f"Snapshot {snapshot.pk} is still being built.")
        TrainingSchedule.objects.filter(pk=schedule.pk).update(pending_snapshot=None)
        if snapshot.status == SnapshotStatus.FAILED:
            return _note(schedule, TriggerOutcome.FAILED, f"Snapshot {snapshot.pk} failed: {snapshot.error}")
        try:
            run = run_create(
                project=schedule.project,
                user=schedule.created_by,
                kind=schedule.kind,
                snapshot=snapshot,
                base_checkpoint=schedule.base_checkpoint,
                params=schedule.params,
                preset=schedule.preset,
                schedule=schedule,
            )
        except (PermissionDenied, SchemaError) as exc:
            return _note(schedule, TriggerOutcome.FAILED, f"Could not start a run on snapshot {snapshot.pk}: {exc}")
        return _note(schedule, TriggerOutcome.RUN_CREATED, f"Started run {run.pk} on snapshot {snapshot.pk}.", run)


def schedules_check() -> int:
    """Beat: trigger every due "N new judgments" schedule and finish pending ones. Returns runs created."""
    created = 0
    schedules = TrainingSchedule.objects.filter(enabled=True)
    for pk, trigger, pending in schedules.values_list("pk", "trigger", "pending_snapshot_id"):
        if trigger == ScheduleTrigger.JUDGMENTS or pending is not None:
            result = schedule_trigger(schedule_id=pk) if pending is None else schedule_advance(schedule_id=pk)
            created += result.outcome == TriggerOutcome.RUN_CREATED
    return created
