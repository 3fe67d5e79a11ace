"""The HTTP floor of the queue benchmark: a bare WSGI app that answers claim and submit at once.

``bench.queue`` serves it with the same gunicorn (same workers, same flags) and drives it with the
same annotator processes, so the judgments per second it reaches are the most any Python
sync-worker server can give on this machine before Django, DRF or the database do anything. It is
the second raw limit next to ``pgbench``: what the HTTP layer alone costs.

The answers have the shape the annotator loop reads (``id`` and ``responses`` on a claim, ``next`` on a
submit-next), so the loop runs unchanged, for both protocols and both load shapes: the paced runs give
the latency floor (a request that arrives after seconds of idleness), the saturated ones the throughput
floor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

_CLAIM = json.dumps({"id": 1, "item": 1, "responses": [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]}).encode()
_SUBMIT = json.dumps({"id": 1, "status": "submitted"}).encode()
_SUBMIT_NEXT = json.dumps({"judgment": {"id": 1}, "next": json.loads(_CLAIM)}).encode()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        json.loads(environ["wsgi.input"].read(length))  # parse the body as a real view would
    path = environ.get("PATH_INFO", "")
    if path.endswith("/submit/"):
        status, body = "201 Created", _SUBMIT
    elif path.endswith("/submit-next/"):
        status, body = "201 Created", _SUBMIT_NEXT
    else:
        status, body = "200 OK", _CLAIM
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
