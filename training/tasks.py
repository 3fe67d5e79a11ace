"""Celery interfaces of training: ids in, one service call, no retries.

``gpu.training.execute_run`` is routed to the ``gpu`` queue by its name (CELERY_TASK_ROUTES). It is not
retried: the service records every failure on the row, a second delivery of the message (Redis
visibility timeout, worker lost) finds the run claimed and does nothing, and a run whose worker died is
failed by the reaper and resumed by an admin, from its last checkpoint.
"""

from __future__ import annotations

from celery import shared_task

from training.services.runs import run_execute, runs_reap_stale
from training.services.schedules import schedule_trigger, schedules_check


@shared_task(name="gpu.training.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    run_execute(run_id=run_id)


@shared_task(name="training.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> int:
    """Beat: fail runs whose supervisor stopped sending heartbeats."""
    return runs_reap_stale()


@shared_task(name="training.check_schedules", ignore_result=True)
def check_schedules() -> int:
    """Beat: start runs for "every N new judgments" schedules that are due."""
    return schedules_check()


@shared_task(name="training.trigger_schedule", ignore_result=True)
def trigger_schedule(schedule_id: int) -> str:
    """A cron schedule's beat entry (django-celery-beat PeriodicTask created by the schedule service)."""
    return schedule_trigger(schedule_id=schedule_id).outcome.value
