"""Database helpers shared by background jobs."""

from __future__ import annotations

from django.db import connection


def connection_reset_if_dropped() -> None:
    """After a failure that may have been the connection itself (terminated backend, server restart),
    close a dead connection so the job's failure can still be written: Django reconnects on the next
    query and never reuses a dead one. Inside a caller's transaction nothing can be saved by
    reconnecting, so it is left alone."""
    if connection.in_atomic_block or connection.connection is None:
        return
    if not connection.is_usable():
        connection.close()
