"""One annotator client for tests/security/test_stress.py, run in its own (forked) process.

Works the project's queue through the REST API (claim, then submit or now and then skip) until the
queue answers 204, in-process through Django's test client, on this process's own database
connection (the parent closes its connections before forking, so none is shared). Every judgment the
API acknowledged (201, or 200 for a resend) is appended to ``--ack`` as a JSON line the moment the
answer arrives, so the file is what this client was told, even if the process is killed a moment
later. Some submits are sent twice with the same client key (a double click, or a retry after the
first answer was lost). With ``hang_at=N`` the N-th submit stops inside the service's transaction
(after the lease row is locked, before the judgment is written) and writes ``HANGING`` to
``marker``, so the test can SIGKILL it mid-request.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SKIP_RATE = 0.05
RESEND_RATE = 0.2


def _install_hang(at: int, marker: Path) -> None:
    from annotation.services import queue

    original = queue.payload_validate
    calls = 0

    def hanging(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == at:
            with marker.open("a") as out:
                out.write("HANGING\n")
            time.sleep(300)  # inside transaction.atomic(), holding the lease's row lock
        return original(*args, **kwargs)

    queue.payload_validate = hanging


def work(*, project_id: int, token: str, ack: Path, seed: int, hang_at: int = 0, marker: Path | None = None) -> int:
    """Work the queue until it answers 204. Returns the exit status: 0, or 1 on an unexpected answer."""
    from django.test import Client

    if hang_at and marker is not None:
        _install_hang(hang_at, marker)
    rng = random.Random(seed)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    base = f"/api/v1/projects/{project_id}"
    submits = 0
    with ack.open("a", buffering=1) as acks:  # line-buffered: each line reaches the OS at once

        def acknowledged(key: str, body: dict[str, Any]) -> None:
            acks.write(json.dumps({"key": key, "judgment": body["id"], "item": body["item"]}) + "\n")

        while True:
            claim = client.post(f"{base}/queue/claim/")
            if claim.status_code == 204:
                return 0
            if claim.status_code != 200:
                print(f"claim answered {claim.status_code}: {claim.content[:500]!r}", file=sys.stderr)
                return 1
            lease = claim.json()
            if rng.random() < SKIP_RATE:
                client.post(
                    f"{base}/assignments/{lease['id']}/skip/", {"reason": "stress"}, content_type="application/json"
                )
                continue
            key = uuid.uuid4().hex
            body = {"payload": {"outcome": rng.choice(["tie", "both_bad"])}, "client_key": key, "time_spent_ms": 1}
            submits += 1
            if marker is not None and submits == hang_at:
                marker.write_text(f"{key}\n")
            url = f"{base}/assignments/{lease['id']}/submit/"
            for _ in range(2 if rng.random() < RESEND_RATE else 1):
                answer = client.post(url, body, content_type="application/json")
                if answer.status_code in (200, 201):
                    acknowledged(key, answer.json())
                elif answer.status_code != 409:  # 409: the lease ran out; the item went back to the queue
                    print(f"submit answered {answer.status_code}: {answer.content[:500]!r}", file=sys.stderr)
                    return 1


def run(**kwargs: Any) -> None:
    """A forked child's entry point: its own database connection, its exit status from ``work``."""
    from django.db import connections

    try:
        status = work(**kwargs)
    finally:
        connections.close_all()
    sys.exit(status)
