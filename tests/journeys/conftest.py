"""What a person does, end to end: Chromium against a gunicorn server and Celery workers on Postgres.

Why a server process and not pytest-django's ``live_server``: ``live_server`` is a thread of the test
process, sharing its settings, its database connection handling and its Celery app. The journeys run
the app the way production does: ``gunicorn config.wsgi`` with two worker processes (so a session
signed in by one is honoured by the other), and two Celery workers like docker-compose's ``worker``
and ``gpu-worker``, each a ``solo`` pool consuming one queue. All of them are started once per test
session, in parallel, against pytest-django's test database (the first journey waits for /healthz);
the cost is their start-up, paid once, and a flush after each test. The tests are
transactional, so what a test writes is committed and seen by the server, and is flushed afterwards.

The processes run ``tests.journeys.settings``: the test settings with one shared secret key and
queues named for this session, so they never take another test's messages. The test process itself
enqueues nothing: fixtures that build data call the services directly (a build they start is recorded
by ``recorded_tasks``, never sent), and everything the person starts in the browser goes through the
server to the workers.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT, clean_env
from tests.training.conftest import tiny_base_dir  # noqa: F401  (shared session fixture)

STARTUP_SECONDS = 90


@dataclass
class Server:
    url: str
    data_dir: Path
    queue: str
    gpu_queue: str
    env: dict[str, str]
    log: Path

    @property
    def media_root(self) -> Path:
        return self.data_dir / "media"  # what config.settings.base computes from LOOP_DATA_DIR

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, procs: list[subprocess.Popen], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn + a ``default`` and a ``gpu`` Celery worker on the test database; torn down before it."""
    from django.db import connection

    with django_db_blocker.unblock():
        db = connection.settings_dict
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    data_dir = tmp_path_factory.mktemp("journeys-data")
    tag = uuid.uuid4().hex[:12]
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.journeys.settings",
        DATABASE_URL=database_url,
        LOOP_DATA_DIR=str(data_dir),
        JOURNEYS_SECRET_KEY=secrets.token_urlsafe(64),
        JOURNEYS_QUEUE=f"journeys-{tag}",
        JOURNEYS_GPU_QUEUE=f"journeys-{tag}-gpu",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "processes.log"
    out = log.open("a")
    web = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    web += ["--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "120"]
    celery = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO"]
    celery += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        for command in (
            web,
            [*celery, "-Q", env["JOURNEYS_QUEUE"], "-n", f"default-{tag}@%h"],
            [*celery, "-Q", env["JOURNEYS_GPU_QUEUE"], "-n", f"gpu-{tag}@%h"],
        )
    ]
    try:
        _wait_healthy(url, procs, log)
        yield Server(url, data_dir, env["JOURNEYS_QUEUE"], env["JOURNEYS_GPU_QUEUE"], env, log)
    finally:
        for proc in procs:
            _stop(proc)
        out.close()
        from django.conf import settings

        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(env["JOURNEYS_QUEUE"], env["JOURNEYS_GPU_QUEUE"])


@pytest.fixture(autouse=True)
def journey(server, transactional_db, settings):
    """Every journey: committed data, and the test process's files where the server reads them."""
    settings.MEDIA_ROOT = server.media_root
    return server


@pytest.fixture(autouse=True)
def recorded_tasks(monkeypatch):
    """Tasks the test process's fixtures would enqueue, recorded instead of sent (they call services)."""
    from annotation.imports.tasks import run_import
    from curation.tasks import build_snapshot
    from training.tasks import execute_run

    sent: list[tuple[str, int]] = []
    for task in (run_import, build_snapshot, execute_run):
        monkeypatch.setattr(task, "delay_on_commit", lambda pk, name=task.name: sent.append((name, pk)))
    return sent
