"""Schedules: every N new judgments and cron, each through a fresh snapshot, never two runs at once."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from annotation.schemas import SchemaError
from annotation.services.projects import item_create
from core.models import Membership, Role
from curation.models import SnapshotStatus
from tests.curation.judging import judge_everything
from tests.training.ready import SMOKE, ready_project
from training.models import RunStatus, TrainingRun, TrainingSchedule
from training.services.schedules import (
    TriggerOutcome,
    schedule_create,
    schedule_delete,
    schedule_set_enabled,
    schedule_trigger,
    schedules_check,
)
from training.services.transitions import run_transition
from training.tasks import check_schedules, trigger_schedule


def judge_new_items(ready, count):
    """``count`` new items, each judged by every annotator of the project."""
    for n in range(count):
        item_create(project=ready.project, prompt=f"New question {n}?", responses=[f"A{n}", f"B{n}"])
    return judge_everything(ready.project, ready.annotators)


def every(ready, n, **overrides):
    values = {
        "project": ready.project,
        "user": ready.admin,
        "name": "retrain",
        "kind": "reward",
        "trigger": "judgments",
        "every_n_judgments": n,
        "base_checkpoint": ready.base,
        "params": SMOKE,
        "preset": "cpu-smoke",
    }
    return schedule_create(**{**values, **overrides})


@pytest.mark.django_db
def test_n_new_judgments_start_exactly_one_run_and_no_second_while_it_is_active(media, tiny_base_dir, enqueued):
    ready = ready_project(tiny_base_dir)
    schedule = every(ready, 4)
    assert schedules_check() == 0  # the judgments that existed before the schedule do not count
    assert judge_new_items(ready, 1) == 2
    assert schedule_trigger(schedule_id=schedule.pk).outcome == TriggerOutcome.NOT_DUE

    judge_new_items(ready, 1)  # 4 new judgments now
    assert check_schedules.run() == 1
    run = TrainingRun.objects.get(schedule=schedule)
    assert run.status == RunStatus.QUEUED
    assert run.snapshot.status == SnapshotStatus.SUCCEEDED
    assert run.snapshot.counts["judgments"] == ready.snapshot.counts["judgments"] + 4
    assert run.params == SMOKE
    assert enqueued["execute_run"] == []  # on commit: this test's transaction never commits
    schedule.refresh_from_db()
    assert schedule.pending_snapshot is None
    assert schedule.last_message == f"Started run {run.pk} on snapshot {run.snapshot_id}."

    judge_new_items(ready, 4)
    result = schedule_trigger(schedule_id=schedule.pk)
    assert result.outcome == TriggerOutcome.BUSY
    assert TrainingRun.objects.filter(schedule=schedule).count() == 1

    run_transition(run_id=run.pk, to=RunStatus.RUNNING)
    run_transition(run_id=run.pk, to=RunStatus.SUCCEEDED)
    assert schedules_check() == 1
    assert TrainingRun.objects.filter(schedule=schedule).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_start_one_run(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    schedule = every(ready, 2)
    judge_new_items(ready, 1)
    barrier = threading.Barrier(4)

    def check():
        try:
            barrier.wait()
            schedules_check()
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    schedules_check()  # finishes a snapshot that one thread built while another held the lock
    assert TrainingRun.objects.filter(schedule=schedule).count() == 1


@pytest.mark.django_db
def test_a_cron_schedule_owns_a_beat_entry_and_skips_while_busy(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    schedule = every(ready, None, trigger="cron", cron="30 2 * * 1")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "training.trigger_schedule"
    assert json.loads(task.args) == [schedule.pk]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "2", "1")

    assert trigger_schedule.run(schedule.pk) == "not_due"  # nothing new to train on
    judge_new_items(ready, 1)
    assert trigger_schedule.run(schedule.pk) == "run_created"
    judge_new_items(ready, 1)
    assert trigger_schedule.run(schedule.pk) == "busy"

    schedule_set_enabled(schedule=schedule, user=ready.admin, enabled=False)
    assert not PeriodicTask.objects.get(pk=task.pk).enabled
    assert trigger_schedule.run(schedule.pk) == "disabled"
    schedule_delete(schedule=schedule, user=ready.admin)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert TrainingRun.objects.filter(project=ready.project, schedule=None).count() == 1  # the run stays


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trigger": "cron", "cron": "every monday"}, "cron"),
        ({"trigger": "cron", "cron": "61 * * * *"}, "cron"),
        ({"every_n_judgments": 0}, "every_n_judgments"),
        ({"name": " "}, "name"),
        ({"params": {"learning_rate": 5.0}}, "params.learning_rate"),
        ({"kind": "dpo", "params": {"beta": 0}}, "params.beta"),
        ({"trigger": "hourly"}, "trigger"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(media, tiny_base_dir, overrides, field):
    ready = ready_project(tiny_base_dir)
    with pytest.raises(SchemaError) as exc:
        every(ready, 5, **overrides)
    assert field in {error.field for error in exc.value.errors}
    assert not TrainingSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="training.trigger_schedule").exists()


@pytest.mark.django_db
def test_a_schedule_whose_creator_lost_admin_records_why_it_cannot_run(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    schedule = every(ready, 2)
    Membership.objects.filter(project=ready.project, user=ready.admin).update(role=Role.ANNOTATOR)
    judge_new_items(ready, 1)
    result = schedule_trigger(schedule_id=schedule.pk)
    assert result.outcome == TriggerOutcome.FAILED
    schedule.refresh_from_db()
    assert schedule.last_message.startswith("Could not create the snapshot")
    assert not TrainingRun.objects.exists()
