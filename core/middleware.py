"""Content-Security-Policy on every response (Django 5.2 has no built-in CSP)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# A download is never a page of ours. Should a browser ever render one (an HTML or SVG file that
# slipped into an export), `sandbox` gives it a unique opaque origin: no scripts, no cookies, no
# access to this site (SECURITY-CASES #6).
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if str(response.get("Content-Disposition", "")).lower().startswith("attachment"):
            response["Content-Security-Policy"] = DOWNLOAD_POLICY
            return response
        policy: str = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
