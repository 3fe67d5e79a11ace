"""The issue's "done when": judgments -> snapshot -> ``execute_run`` through a real Celery worker process on
CPU with a tiny model -> a registered checkpoint with metrics.

The worker is a separate process (``celery -A config worker``) on the machine's Redis and this test's
Postgres database, consuming a queue of its own so no other test's worker can take the message.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
import redis
from django.db import connection

from models_registry.models import Checkpoint
from tests.conftest import ROOT, clean_env
from tests.training.ready import SMOKE, ready_project
from training.models import RunStatus, TrainingRun
from training.services.runs import run_create
from training.tasks import execute_run


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_execute_run_through_a_real_worker_registers_a_checkpoint_with_metrics(
    settings, tmp_path, tiny_base_dir, monkeypatch
):
    data_dir = tmp_path / "data"
    settings.MEDIA_ROOT = data_dir / "media"  # what the worker computes from LOOP_DATA_DIR
    queue = f"test-training-{uuid.uuid4().hex}"
    # Enqueued on commit, as in production, but onto this test's queue instead of the shared "gpu".
    monkeypatch.setattr(
        execute_run, "delay_on_commit", lambda pk: execute_run.apply_async_on_commit((pk,), queue=queue)
    )

    ready = ready_project(tiny_base_dir)
    db = connection.settings_dict
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        LOOP_DATA_DIR=str(data_dir),
    )
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "--pool", "solo"]
    command += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run = run_create(
            project=ready.project,
            user=ready.admin,
            kind="reward",
            snapshot=ready.snapshot,
            base_checkpoint=ready.base,
            params=SMOKE,
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not TrainingRun.objects.get(pk=run.pk).is_finished:
            assert worker.poll() is None, "the worker died"
            time.sleep(0.5)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=60)[0]
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, f"{run.status}: {run.error}\n{output[-4000:]}"
    assert run.attempt == 1
    assert run.step == run.total == SMOKE["max_steps"]
    checkpoint = Checkpoint.objects.get(run=run)
    assert checkpoint.kind == "reward"
    assert {"heldout_accuracy", "heldout_pairs", "eval_loss", "train_loss"} <= set(checkpoint.metrics)
    recorded = {entry["path"]: entry["sha256"] for entry in checkpoint.manifest["files"]}
    assert checkpoint.sha256["model.safetensors"] == recorded["model.safetensors"]
    assert (checkpoint.path / "model.safetensors").is_file()
