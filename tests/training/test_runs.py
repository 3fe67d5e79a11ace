"""The run status machine, double delivery, cancel and resume rules, the reaper: no child process here."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.training.ready import SMOKE, ready_project
from training.models import RunStatus, TrainingRun
from training.services.runs import (
    RunStateError,
    exit_message,
    run_cancel,
    run_create,
    run_execute,
    run_resume,
    runs_reap_stale,
)
from training.services.transitions import IllegalTransition, run_transition
from training.tasks import execute_run, reap_stale_runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(media, tiny_base_dir):
    return ready_project(tiny_base_dir)


def queued_run(ready):
    return run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params=SMOKE,
    )


def status(run):
    return TrainingRun.objects.get(pk=run.pk).status


def test_transitions_are_conditional_updates(ready):
    run = queued_run(ready)
    assert run_transition(run_id=run.pk, to=RunStatus.RUNNING, expect=[RunStatus.QUEUED])
    assert not run_transition(run_id=run.pk, to=RunStatus.RUNNING, expect=[RunStatus.QUEUED])
    assert not run_transition(run_id=run.pk, to=RunStatus.SUCCEEDED, on_attempt=7)
    assert run_transition(run_id=run.pk, to=RunStatus.SUCCEEDED, on_attempt=0)
    assert status(run) == RunStatus.SUCCEEDED
    assert not run_transition(run_id=run.pk, to=RunStatus.FAILED)  # nothing leaves succeeded
    with pytest.raises(IllegalTransition):
        run_transition(run_id=run.pk, to=RunStatus.QUEUED, expect=[RunStatus.SUCCEEDED])
    with pytest.raises(IllegalTransition):
        run_transition(run_id=run.pk, to=RunStatus.SUCCEEDED, expect=[RunStatus.QUEUED])


def test_a_second_delivery_of_a_claimed_run_is_a_no_op(ready):
    run = queued_run(ready)
    assert run_transition(run_id=run.pk, to=RunStatus.RUNNING, expect=[RunStatus.QUEUED], attempt=1)
    assert execute_run.run(run.pk) is None  # the task body: returns at once, starts no child
    assert run_execute(run_id=run.pk) is None
    row = TrainingRun.objects.get(pk=run.pk)
    assert (row.status, row.attempt, row.child_pid) == (RunStatus.RUNNING, 1, None)


@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_many_concurrent_claims_wins(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    run = queued_run(ready)
    barrier, wins = threading.Barrier(6), []

    def claim():
        try:
            barrier.wait()
            wins.append(run_transition(run_id=run.pk, to=RunStatus.RUNNING, expect=[RunStatus.QUEUED]))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 5 + [True]


def test_cancelling_a_queued_run_ends_it_and_its_delivery_does_nothing(ready):
    run = queued_run(ready)
    run = run_cancel(run=run, user=ready.admin)
    assert run.status == RunStatus.CANCELLED
    assert run.finished_at is not None
    assert run_execute(run_id=run.pk) is None


def test_cancelling_a_running_run_asks_its_supervisor(ready):
    run = queued_run(ready)
    run_transition(run_id=run.pk, to=RunStatus.RUNNING, expect=[RunStatus.QUEUED])
    run = run_cancel(run=run, user=ready.admin)
    assert (run.status, run.cancel_requested) == (RunStatus.RUNNING, True)


def test_only_failed_or_cancelled_runs_resume_and_only_for_admins(ready, enqueued):
    from django.core.exceptions import PermissionDenied

    run = queued_run(ready)
    with pytest.raises(RunStateError):
        run_resume(run=run, user=ready.admin)
    run_transition(run_id=run.pk, to=RunStatus.RUNNING)
    run_transition(run_id=run.pk, to=RunStatus.FAILED, error="boom")
    with pytest.raises(PermissionDenied):
        run_resume(run=run, user=ready.researcher)
    run = run_resume(run=run, user=ready.admin)
    assert (run.status, run.error, run.cancel_requested) == (RunStatus.QUEUED, "", False)


def test_a_resume_waits_for_the_other_active_run_of_its_schedule(ready):
    from training.models import TrainingSchedule

    schedule = TrainingSchedule.objects.create(
        project=ready.project,
        name="s",
        trigger="judgments",
        every_n_judgments=1,
        base_checkpoint=ready.base,
        created_by=ready.admin,
    )
    old, new = queued_run(ready), queued_run(ready)
    TrainingRun.objects.filter(pk__in=[old.pk, new.pk]).update(schedule=schedule)
    run_transition(run_id=old.pk, to=RunStatus.CANCELLED)
    old.refresh_from_db()
    with pytest.raises(RunStateError, match="Another run of this schedule"):
        run_resume(run=old, user=ready.admin)


def test_the_reaper_fails_runs_with_a_stale_heartbeat_and_says_how_to_resume(ready):
    stale, fresh, queued = queued_run(ready), queued_run(ready), queued_run(ready)
    long_ago = timezone.now() - timedelta(hours=1)
    for run in (stale, fresh):
        run_transition(run_id=run.pk, to=RunStatus.RUNNING, worker="gpu-3")
    TrainingRun.objects.filter(pk=stale.pk).update(heartbeat_at=long_ago, last_checkpoint_step=40)
    TrainingRun.objects.filter(pk=queued.pk).update(heartbeat_at=long_ago)  # queued runs wait, never reaped
    assert runs_reap_stale(older_than=timedelta(minutes=10)) == 1
    stale.refresh_from_db()
    assert stale.status == RunStatus.FAILED
    assert "No heartbeat from the supervisor on gpu-3" in stale.error
    assert "resume to continue from step 40" in stale.error
    assert status(fresh) == RunStatus.RUNNING
    assert status(queued) == RunStatus.QUEUED
    assert reap_stale_runs.run() == 0  # the beat task: nothing left to reap


def test_a_tampered_base_model_is_refused_before_any_child_starts(ready, tiny_base_dir, tmp_path):
    import shutil

    from models_registry.services import checkpoint_register_base

    copy = shutil.copytree(tiny_base_dir, tmp_path / "copy")
    base = checkpoint_register_base(project=ready.project, kind="policy", directory=copy, name="copy")
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=base,
        params=SMOKE,
    )
    (copy / "model.safetensors").write_bytes(b"tampered after registration")
    result = run_execute(run_id=run.pk)
    assert result.status == RunStatus.FAILED
    assert result.error.startswith("Could not start:")
    assert "does not match its recorded sha256" in result.error
    assert result.child_pid is None


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        (1, "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "CUDA out of memory"),
        (-int(signal.SIGKILL), None, "killed by SIGKILL (often the kernel's out-of-memory killer)"),
        (-int(signal.SIGSEGV), None, "killed by SIGSEGV"),
        (2, None, "refused its command line"),
        (1, None, "exited with code 1 without an error line"),
        (0, None, "without reporting a trained model"),
    ],
)
def test_exit_messages_say_why(code, error, expected):
    assert expected in exit_message(code, error)


def test_starting_and_cancelling_a_run_are_audited(ready):
    from core.models import AuditEvent

    run = queued_run(ready)
    run_cancel(run=run, user=ready.admin)
    events = list(AuditEvent.objects.filter(project=ready.project).values_list("action", "actor_id"))
    assert ("training.run_start", ready.admin.pk) in events
    assert ("training.run_cancel", ready.admin.pk) in events
