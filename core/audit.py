"""The audit log's one write: ``audit_record`` appends an ``AuditEvent``.

Call it from the service that performs a security-relevant action (role changes, token rotation,
account creation, sign-in failures, exports, promotions, deletions), inside the same transaction, so
an action that rolls back leaves no event and an event never describes something that did not
happen. Events are never edited or deleted by the application (``core.models.AuditEvent``).

``details`` is for context a reviewer needs (old and new role, a snapshot's filters). Secrets must
never be passed; as a second line of defence any key that names one (password, token, secret, ...)
is stored as ``"[redacted]"``, and oversized details are cut, so a caller's mistake cannot turn the
log into a credential store or a disk filler.
"""

from __future__ import annotations

import ipaddress
import json
import re
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.http import HttpRequest

from core.models import AuditEvent, Project, User


class AuditAction(StrEnum):
    """Actions recorded by core. Other apps pass their own dotted names (``"<app>.<verb>"``)."""

    ADMIN_CREATE = "account.admin_create"
    LOGIN_FAILED = "account.login_failed"
    LOGIN_BLOCKED = "account.login_blocked"
    API_KEY_ROTATE = "account.api_key_rotate"
    PROJECT_CREATE = "project.create"
    MEMBERSHIP_SET = "membership.set"
    MEMBERSHIP_REMOVE = "membership.remove"
    SNAPSHOT_CREATE = "snapshot.create"


REDACTED = "[redacted]"
MAX_DETAILS_CHARS = 8_000
MAX_TEXT = 500  # longest string value kept in details
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|session|csrf", re.IGNORECASE)


def _clean(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy of ``value`` with secret-named keys redacted and long strings cut."""
    if depth > 6:
        return "[nested too deep]"
    if isinstance(value, dict):
        return {
            str(k)[:100]: REDACTED if _SECRET_KEY.search(str(k)) else _clean(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in list(value)[:200]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:MAX_TEXT]


def details_clean(details: dict[str, Any] | None) -> dict[str, Any]:
    cleaned: dict[str, Any] = _clean(details or {})
    if len(json.dumps(cleaned, default=str)) > MAX_DETAILS_CHARS:
        return {"truncated": True, "keys": sorted(cleaned)[:50]}
    return cleaned


def request_address(request: HttpRequest | None) -> str | None:
    """The peer address Django saw. X-Forwarded-For is not trusted: any client can send it."""
    if request is None:
        return None
    raw = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    project: Project | None = None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event. ``actor`` None (or anonymous) means the system or an unauthenticated client."""
    if not action or len(action) > 64:
        raise ValueError("an audit action is a name of 1 to 64 characters")
    user = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_label=user.get_username() if user is not None else "",
        project=project,
        action=str(action),
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        details=details_clean(details),
        ip=request_address(request),
    )
