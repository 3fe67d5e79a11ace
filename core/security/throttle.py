"""Sign-in throttling: after repeated failures for one account or from one address, refuse for a while.

Counters live in Django's cache (Redis in production through CACHE_URL, memory for the embedded
default). Both the site's login page and the admin's use it (core.forms).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.lower().encode()).hexdigest()[:32]
    return f"login-fail:{kind}:{digest}"


def _limits() -> tuple[int, int]:
    return int(getattr(settings, "LOGIN_FAILURE_LIMIT", 5)), int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 900))


def login_blocked(*, username: str, address: str) -> bool:
    limit, _ = _limits()
    per_user = cache.get(_key("user", username), 0)
    # An address gets more room than one account: several people may share a NAT.
    per_address = cache.get(_key("addr", address), 0)
    return bool(per_user >= limit or per_address >= limit * 4)


def login_failed(*, username: str, address: str) -> None:
    _, window = _limits()
    for key in (_key("user", username), _key("addr", address)):
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def login_succeeded(*, username: str) -> None:
    cache.delete(_key("user", username))
