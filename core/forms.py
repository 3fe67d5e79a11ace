"""Login forms that refuse sign-in while an account or address is throttled, and audit failures.

A failed sign-in is recorded with the username that was typed (cut to the field's length) and the
address; the password never reaches the audit log. A refused (throttled) attempt is recorded once
per account and address per lockout window, so a flood of blocked attempts cannot fill the table.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

from core.audit import AuditAction, audit_record
from core.models import User
from core.security.throttle import login_blocked, login_failed, login_succeeded

BLOCKED_MESSAGE = "Too many failed sign-ins. Wait a few minutes and try again."


def _address(form: AuthenticationForm) -> str:
    request = form.request
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def _audit_sign_in(form: AuthenticationForm, *, action: AuditAction, username: str) -> None:
    # Only the typed username, never form.data or cleaned_data: those hold the password.
    account = User.objects.filter(username=username).first() if username else None
    # The actor is an unauthenticated client: whoever typed the name, not the account's owner.
    audit_record(
        actor=None,
        action=action,
        target=account,
        details={"username": username[:150], "admin_site": isinstance(form, AdminAuthenticationForm)},
        request=form.request,
    )


def _first_block_in_window(username: str, address: str) -> bool:
    digest = hashlib.sha256(f"{username.lower()}\x00{address}".encode()).hexdigest()[:32]
    window = int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 900))
    return bool(cache.add(f"audit-login-blocked:{digest}", 1, timeout=window))


def _throttled_clean(form: AuthenticationForm, parent_clean: Any) -> dict[str, Any]:
    username = str(form.data.get("username", ""))
    address = _address(form)
    if login_blocked(username=username, address=address):
        if _first_block_in_window(username, address):
            _audit_sign_in(form, action=AuditAction.LOGIN_BLOCKED, username=username)
        raise forms.ValidationError(BLOCKED_MESSAGE, code="throttled")
    try:
        cleaned: dict[str, Any] = parent_clean()
    except forms.ValidationError:
        login_failed(username=username, address=address)
        _audit_sign_in(form, action=AuditAction.LOGIN_FAILED, username=username)
        raise
    login_succeeded(username=username)
    return cleaned


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        return _throttled_clean(self, super().clean)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        return _throttled_clean(self, super().clean)
