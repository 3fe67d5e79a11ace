"""Celery over the machine's real Redis: routing, enqueue-after-commit, and a real worker process."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from config.celery import app
from core.tasks import ping
from tests.conftest import ROOT, clean_env
from tests.factories import UserFactory


def test_tasks_are_routed_by_name():
    router = app.amqp.router
    assert router.route({}, "gpu.train")["queue"].name == "gpu"
    assert router.route({}, "core.ping")["queue"].name == "default"
    assert {q.name for q in app.conf.task_queues} == {"default", "gpu"}


@pytest.mark.django_db(transaction=True)
def test_task_is_sent_only_after_commit():
    queue = f"test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:

        def enqueue_then_fail() -> None:
            with transaction.atomic():
                ping.apply_async_on_commit(queue=queue)
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            enqueue_then_fail()
        assert client.llen(queue) == 0

        with transaction.atomic():
            ping.apply_async_on_commit(queue=queue)
            assert client.llen(queue) == 0  # not yet: the transaction is open
        assert client.llen(queue) == 1
    finally:
        client.delete(queue)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_task_round_trips_through_a_real_worker_on_redis_and_postgres():
    UserFactory.create_batch(3)
    queue = f"test-{uuid.uuid4().hex}"
    db = connection.settings_dict
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-c",
            "1",
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        result = ping.apply_async(queue=queue).get(timeout=60)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
    assert result == {"pong": True, "database": "postgresql", "users": 3}, output
