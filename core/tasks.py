from __future__ import annotations

from celery import shared_task
from django.db import connection

from core.models import User


@shared_task(name="core.ping")
def ping() -> dict[str, object]:
    """Health check: proves a worker runs, reads settings and reaches the database."""
    return {"pong": True, "database": connection.vendor, "users": User.objects.count()}
