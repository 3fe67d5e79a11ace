"""REST API rate limits: per user, per anonymous address, and per scope for expensive writes.

Configured in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``config/settings/base.py``, from the
environment). A client over its rate gets 429 with ``Retry-After`` (DRF's exception handler adds it).
Counters live in the default cache: Redis in production (``CACHE_URL``) so every web process counts
together; the in-process default counts per process.

Why subclasses: DRF's ``SimpleRateThrottle.THROTTLE_RATES`` is bound once, when DRF's module is
imported, to the dict that was in settings then, so a changed setting (a test's ``settings``
override, a deploy reading them late) is never seen. These read the rates at call time.

Anonymous clients are told apart by ``REMOTE_ADDR`` only: with ``NUM_PROXIES`` unset DRF would trust
any ``X-Forwarded-For`` a client sends, and a new made-up address per request would never be limited.
``NUM_PROXIES`` is 0 by default and set to the number of reverse proxies in front of the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _rate(scope: str | None) -> str | None:
    rates: Mapping[str, object] = api_settings.DEFAULT_THROTTLE_RATES or {}
    rate = rates.get(scope or "")
    return None if rate is None else str(rate)


class AnonThrottle(AnonRateThrottle):
    """Requests without a user, per client address (scope ``anon``)."""

    def get_rate(self) -> str | None:
        return _rate(self.scope)


class UserThrottle(UserRateThrottle):
    """Requests of one signed-in user or token, across all their clients (scope ``user``)."""

    def get_rate(self) -> str | None:
        return _rate(self.scope)


class WriteScopeThrottle(ScopedRateThrottle):
    """A tighter limit on the writes of views that set ``throttle_scope`` (imports start background
    work and fetch URLs). Reads of the same view count only against the ``user`` rate.
    """

    def get_rate(self) -> str | None:
        return _rate(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
