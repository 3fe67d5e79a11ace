"""``run_execute`` end to end on CPU: a real ``python -m ml.cli`` child, a tiny model, a real snapshot.

These tests commit (``transaction=True``): a second thread plays the admin or the crash, and must see
the rows the supervisor writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from models_registry.models import Checkpoint
from models_registry.services import checkpoint_verify
from tests.conftest import ROOT, clean_env
from tests.training.ready import SMOKE, ready_project
from training.models import MetricSplit, RunMetric, RunStatus, TrainingRun
from training.services.runs import run_cancel, run_create, run_execute, run_resume, runs_reap_stale

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def watch(run_id, until, then, timeout=120):
    """In a thread: poll the run row until ``until(run)``, then call ``then(run)``."""

    def loop():
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                run = TrainingRun.objects.get(pk=run_id)
                if run.is_finished:
                    return
                if until(run):
                    then(run)
                    return
                time.sleep(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def resumable_step(output: Path) -> int | None:
    """The step ml resumes from: the highest checkpoint-N whose save completed (trainer_state.json)."""
    steps = [int(p.name.split("-")[1]) for p in output.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(steps, default=None)


def test_a_crashed_run_resumes_from_its_last_checkpoint_and_registers_the_model(
    media, fast_ticks, tiny_base_dir, enqueued
):
    ready = ready_project(tiny_base_dir)
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params={**SMOKE, "max_steps": 30},
        preset="cpu-smoke",
    )
    assert enqueued["execute_run"] == [run.pk]

    # The crash: SIGKILL the child as soon as its first checkpoint is on disk.
    killer = watch(
        run.pk,
        until=lambda r: (r.last_checkpoint_step or 0) >= 2 and r.child_pid,
        then=lambda r: os.kill(r.child_pid, signal.SIGKILL),
    )
    crashed = run_execute(run_id=run.pk)
    killer.join(timeout=5)
    assert crashed.status == RunStatus.FAILED
    assert "SIGKILL" in crashed.error
    assert 2 <= crashed.last_checkpoint_step < 30
    output = Path(settings.MEDIA_ROOT) / crashed.output_dir
    saved = resumable_step(output)
    assert saved is not None
    assert saved >= crashed.last_checkpoint_step

    run_resume(run=crashed, user=ready.admin)
    assert enqueued["execute_run"] == [run.pk, run.pk]
    done = run_execute(run_id=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.attempt == 2
    assert done.resumed_from_step == saved
    assert done.step == done.total == 30
    assert done.error == ""
    assert {"heldout_accuracy", "heldout_pairs", "eval_loss", "train_loss"} <= set(done.metrics)
    assert done.metrics["heldout_pairs"] > 0
    assert done.data_report["train_rows"] > 0

    checkpoint = Checkpoint.objects.get(run=done)
    assert checkpoint.kind == "reward"
    assert checkpoint.snapshot_id == ready.snapshot.pk
    assert "model.safetensors" in checkpoint.sha256
    assert all(len(digest) == 64 for digest in checkpoint.sha256.values())
    assert checkpoint.metrics == done.metrics
    assert checkpoint.manifest["resumed_from_step"] == saved
    assert checkpoint.path.is_relative_to(Path(settings.MEDIA_ROOT) / "checkpoints")
    checkpoint_verify(checkpoint=checkpoint)  # the files on disk match the recorded hashes
    assert not output.exists()  # optimizer state of a succeeded run is gone

    # History: one training point per step, each step once although steps after `saved` ran twice.
    train_steps = list(RunMetric.objects.filter(run=done, split=MetricSplit.TRAIN).values_list("step", flat=True))
    assert train_steps == list(range(1, 31))
    assert RunMetric.objects.filter(run=done, split=MetricSplit.EVAL).exists()

    # A late second delivery of the message changes nothing and starts no child.
    assert run_execute(run_id=run.pk) is None
    assert TrainingRun.objects.get(pk=run.pk).attempt == 2


def test_cancel_requested_while_running_stops_the_child(media, fast_ticks, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params={**SMOKE, "max_steps": 5000, "save_steps": 1000},
    )
    admin = ready.admin
    canceller = watch(run.pk, until=lambda r: r.step >= 1, then=lambda r: run_cancel(run=r, user=admin))
    result = run_execute(run_id=run.pk)
    canceller.join(timeout=5)
    assert result.status == RunStatus.CANCELLED, result.error
    assert result.cancel_requested
    assert 1 <= result.step < 5000
    assert result.finished_at is not None
    assert not Checkpoint.objects.filter(run=result).exists()


def test_a_failing_child_ends_failed_with_its_own_error_text(media, fast_ticks, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params=SMOKE,
    )
    # The snapshot's data vanishes between creation and execution: the child refuses its config.
    train = Path(settings.MEDIA_ROOT) / ready.snapshot.folder / "preference.jsonl"
    train.unlink()
    result = run_execute(run_id=run.pk)
    assert result.status == RunStatus.FAILED
    assert result.error.startswith("ConfigError: ")
    assert "preference.jsonl does not exist" in result.error
    log = (Path(settings.MEDIA_ROOT) / result.log_path).read_text()
    assert "ConfigError" in log  # the traceback on standard error, for the log tail


def process_alive(pid: int) -> bool:
    """Running or stopped, not a zombie (an orphan's zombie waits for init to reap it; it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_sigkilled_supervisor_takes_its_child_with_it_and_the_run_ends_failed_and_resumable(
    settings, tmp_path, tiny_base_dir
):
    """The supervisor runs in a process of its own (as in a Celery worker) and is SIGKILLed: no Python
    cleanup runs in it. The child is silent (no progress line, checkpoint or evaluation for 100k steps),
    so without the parent-death signal nothing would stop it: it would train on until its next write.
    """
    data_dir = tmp_path / "data"
    settings.MEDIA_ROOT = data_dir / "media"  # what the supervisor process computes from LOOP_DATA_DIR
    ready = ready_project(tiny_base_dir)
    silent = {"logging_steps": 100_000, "save_steps": 100_000, "eval_steps": 100_000}
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params={**SMOKE, "max_steps": 1_000_000, **silent},
    )
    db = connection.settings_dict
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        LOOP_DATA_DIR=str(data_dir),
    )
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings; settings.TRAINING_PROGRESS_INTERVAL = 0.1\n"
        f"from training.services.runs import run_execute; run_execute(run_id={run.pk})\n"
    )
    output = tmp_path / "supervisor.log"  # a file, not a pipe: nobody reads it while the test waits
    with output.open("w") as out:
        supervisor = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while True:  # until the child has started training (its `started` line gave the total)
            run.refresh_from_db()
            if run.child_pid and run.total:
                break
            assert supervisor.poll() is None, output.read_text()[-4000:]
            assert time.monotonic() < deadline, "the child did not start training"
            time.sleep(0.05)
        child = run.child_pid
        time.sleep(0.5)  # well inside the silent stretch of training
        assert process_alive(child)
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait(timeout=10)
        gone_by = time.monotonic() + 5
        while process_alive(child) and time.monotonic() < gone_by:
            time.sleep(0.05)
        alive = process_alive(child)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the training child outlived its SIGKILLed supervisor"
    # It stopped through its SIGTERM handler, which says the run is resumable (the log is its stderr).
    log = (Path(settings.MEDIA_ROOT) / run.log_path).read_text()
    assert "stopped by SIGTERM; rerun to resume" in log

    # Nobody wrote the end: the row is still running until the reaper sees the stale heartbeat.
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert runs_reap_stale(older_than=timedelta(0)) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "No heartbeat from the supervisor" in run.error
    assert "resume to start again" in run.error  # no checkpoint was saved in the silent stretch
    resumed = run_resume(run=run, user=ready.admin)
    assert resumed.status == RunStatus.QUEUED
