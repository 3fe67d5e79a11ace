"""Reliability under faults: annotator processes killed mid-work, a database connection cut mid-build.

Stress: several annotator clients, each its own (forked) process with its own database connection,
work one project with k=3 through the REST API. One is SIGKILLed inside the submit transaction, two more at
moments chosen by the test while they work. Their leases are then made to run out (backdated, as the
30 s TTL would), the survivors finish, fresh annotators sweep up what is left, and the expiry job
runs. At the end every judgment a client was told was recorded is in the database exactly once,
the killed in-flight submit left nothing, every item has exactly k judgments, and no lease is left
active.

Connection drop: the database backend of a running snapshot build is terminated
(``pg_terminate_backend``) at its first progress write; the snapshot ends ``failed`` with the
error, no files are published, and the same filters build fine as a new snapshot.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.db.models import Count
from django.urls import get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotation.models import Assignment, AssignmentStatus, Item, Judgment
from annotation.models_imports import ImportStatus
from annotation.services.imports import import_job_create, import_job_run
from annotation.services.queue import leases_expire
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.services import snapshot_files
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.curation.judging import judged_project
from tests.factories import annotation_project
from tests.security import stress_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ITEMS, K, TTL = 60, 3, 30
WORKERS, SWEEPERS = 8, 3
HANG, VICTIMS = 0, (1, 2)  # worker 0 hangs inside its 2nd submit; workers 1 and 2 die while working
BUDGET_S = 60


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def acks_in(path: Path) -> list[dict]:
    if not path.exists():
        return []
    # A kill can cut the last line short; a line the client never finished writing was never read
    # by anyone either, so only whole lines count.
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_killed_annotators_lose_no_acknowledged_judgment_and_every_item_gets_k(tmp_path):
    started = time.monotonic()
    project, users = annotation_project(items=ITEMS, overlap=K, ttl=TTL, annotators=WORKERS + SWEEPERS)
    tokens = [Token.objects.create(user=user).key for user in users]
    ack_files = [tmp_path / f"ack-{n}.jsonl" for n in range(WORKERS + SWEEPERS)]
    marker = tmp_path / "hang-marker"
    assert get_resolver().url_patterns  # import every view now, so the forked children start at once
    connections.close_all()  # each child opens its own connection; none is shared across a fork
    forking = multiprocessing.get_context("fork")

    def spawn(n: int) -> multiprocessing.process.BaseProcess:
        options = {"project_id": project.pk, "token": tokens[n], "ack": ack_files[n], "seed": n}
        if n == HANG:
            options |= {"hang_at": 2, "marker": marker}
        worker = forking.Process(target=stress_worker.run, kwargs=options, name=f"annotator-{n}")
        worker.start()
        return worker

    workers = [spawn(n) for n in range(WORKERS)]
    try:
        # 1. Kill one inside the submit transaction (lease row locked, judgment not yet written)...
        wait_for(lambda: "HANGING" in (marker.read_text() if marker.exists() else ""), timeout=40, what="the hang")
        os.kill(workers[HANG].pid, signal.SIGKILL)
        in_flight_key = marker.read_text().split()[0]
        # 2. ...and two more while they work, after they have been told of a few judgments.
        for n, after in zip(VICTIMS, (2, 4), strict=True):
            wait_for(lambda n=n, after=after: len(acks_in(ack_files[n])) >= after, timeout=40, what=f"worker {n}")
            os.kill(workers[n].pid, signal.SIGKILL)
        killed = [HANG, *VICTIMS]
        for n in killed:
            workers[n].join(timeout=10)
            assert workers[n].exitcode == -signal.SIGKILL
        # 3. Their leases run out: backdated rather than waiting out the TTL.
        backdated = Assignment.objects.filter(
            annotator__in=[users[n] for n in killed], status=AssignmentStatus.ACTIVE
        ).update(expires_at=timezone.now() - timedelta(seconds=1))
        # 4. The survivors finish; then annotators who have not worked yet sweep up the rest.
        for n, worker in enumerate(workers):
            if n not in killed:
                worker.join(timeout=BUDGET_S)
                assert worker.exitcode == 0, f"annotator {n} ended with {worker.exitcode}"
        connections.close_all()
        sweepers = [spawn(n) for n in range(WORKERS, WORKERS + SWEEPERS)]
        workers += sweepers
        for worker in sweepers:
            worker.join(timeout=BUDGET_S)
            assert worker.exitcode == 0, f"{worker.name} ended with {worker.exitcode}"
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    leases_expire()  # the beat job's run
    elapsed = time.monotonic() - started

    # Every acknowledged judgment is in the database, exactly once, as the judgment it was told of.
    acked = [(n, ack) for n, path in enumerate(ack_files) for ack in acks_in(path)]
    told: dict[tuple[int, str], int] = {}
    for n, ack in acked:
        assert told.setdefault((users[n].pk, ack["key"]), ack["judgment"]) == ack["judgment"], "a resend got another id"
    for (annotator_id, key), judgment_id in told.items():
        rows = list(Judgment.objects.filter(annotator_id=annotator_id, client_key=key).values_list("pk", flat=True))
        assert rows == [judgment_id], (annotator_id, key, rows)
    # The submit killed mid-transaction wrote nothing.
    assert not Judgment.objects.filter(annotator=users[HANG], client_key=in_flight_key).exists()
    # Every item has exactly k judgments, and the queue's bookkeeping agrees.
    per_item = Counter(dict(Judgment.objects.filter(project=project).values_list("item_id").annotate(n=Count("id"))))
    assert sorted(per_item.values()) == [K] * ITEMS
    for item in Item.objects.filter(project=project):
        assert (item.submitted_count, item.open_slots) == (K, 0), item.pk
    assert Judgment.objects.filter(project=project).count() == ITEMS * K
    assert set(Judgment.objects.filter(project=project).values_list("assignment__status", flat=True)) == {
        AssignmentStatus.SUBMITTED
    }
    # No lease is stuck: nothing is active any more, let alone past its TTL.
    assert not Assignment.objects.filter(project=project, status=AssignmentStatus.ACTIVE).exists()
    # A client that was not killed was told of every judgment it made.
    for n in range(WORKERS + SWEEPERS):
        if n not in killed:
            made = set(Judgment.objects.filter(annotator=users[n]).values_list("client_key", flat=True))
            assert made == {key for (user_id, key) in told if user_id == users[n].pk}, n
    assert backdated >= 1  # the killed workers held leases that had to run out
    print(
        f"\nstress: {WORKERS} workers + {SWEEPERS} sweepers, {len(killed)} SIGKILLed, {len(acked)} acknowledgements "
        f"of {len(told)} judgments ({len(acked) - len(told)} resends), "
        f"{ITEMS * K} judgments in the database, {elapsed:.1f} s"
    )
    assert elapsed < BUDGET_S * 1.5


# --- A database connection dropped during a snapshot build -------------------------------------------


def terminate_own_backend_after(marker: str):
    """An execute wrapper: run the statement containing ``marker``, then have another connection end ours."""

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if marker in sql and not fired.is_set():
            fired.set()
            pid = context["connection"].connection.info.backend_pid
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                    for _ in range(100):  # wait until the server has really ended it
                        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                        if cursor.fetchone()[0] == 0:
                            break
                        time.sleep(0.02)
            finally:
                other.close()
        return result

    fired = threading.Event()
    return wrapper, fired


@pytest.mark.parametrize(
    "moment",
    [
        "progress_total",  # the first progress write, before any row is read
        "progress_done",  # a progress write in the middle of the stream, files half written
    ],
)
def test_connection_drop_fails_the_build_visibly_and_a_new_snapshot_succeeds(settings, tmp_path, monkeypatch, moment):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(snapshot_files, "PROGRESS_EVERY", 2)  # a progress write after the 2nd judgment
    project, _, researcher = judged_project("pairwise", items=6, annotators=2)
    options = {"tables": ["preference", "raw"], "file_format": "both"}
    snapshot = snapshot_create(project=project, user=researcher, name="cut", filters={}, options=options)

    wrapper, fired = terminate_own_backend_after(moment)
    with connection.execute_wrapper(wrapper):
        snapshot_build(snapshot_id=snapshot.pk)
    assert fired.is_set()
    connection.close()  # this test's own handle died with the backend; the next query reconnects

    snapshot.refresh_from_db()
    assert snapshot.status == SnapshotStatus.FAILED
    assert "terminat" in snapshot.error.lower() or "connection" in snapshot.error.lower(), snapshot.error
    assert snapshot.finished_at is not None
    assert snapshot.files == []
    project_folder = tmp_path / "snapshots" / str(project.pk)
    assert not (tmp_path / snapshot.folder).exists()
    assert not project_folder.exists() or list(project_folder.iterdir()) == []  # no .partial left either

    again = snapshot_create(project=project, user=researcher, name="again", filters=snapshot.filters, options=options)
    again = snapshot_build(snapshot_id=again.pk)
    assert again.status == SnapshotStatus.SUCCEEDED, again.error
    assert again.counts["judgments"] == Judgment.objects.filter(project=project).count()
    assert sorted(p.name for p in project_folder.iterdir()) == [str(again.pk)]
    assert DatasetSnapshot.objects.get(pk=snapshot.pk).status == SnapshotStatus.FAILED


def test_connection_drop_fails_an_import_visibly(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    project, _ = annotation_project(items=0)
    rows = b"".join(b'{"prompt": "q%d", "responses": ["a", "b"]}\n' % n for n in range(20))
    job = import_job_create(project=project, user=project.created_by, uploaded_file=SimpleUploadedFile("x.jsonl", rows))
    wrapper, fired = terminate_own_backend_after('INNER JOIN "core_project"')
    with connection.execute_wrapper(wrapper), contextlib.suppress(Exception):
        import_job_run(job_id=job.pk)
    assert fired.is_set()
    connection.close()
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "nothing was written" in job.errors[0]["message"]
