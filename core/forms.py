"""Login forms that refuse sign-in while an account or address is throttled."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from core.security.throttle import login_blocked, login_failed, login_succeeded

BLOCKED_MESSAGE = "Too many failed sign-ins. Wait a few minutes and try again."


def _address(form: AuthenticationForm) -> str:
    request = form.request
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def _throttled_clean(form: AuthenticationForm, parent_clean: Any) -> dict[str, Any]:
    username = str(form.data.get("username", ""))
    address = _address(form)
    if login_blocked(username=username, address=address):
        raise forms.ValidationError(BLOCKED_MESSAGE, code="throttled")
    try:
        cleaned: dict[str, Any] = parent_clean()
    except forms.ValidationError:
        login_failed(username=username, address=address)
        raise
    login_succeeded(username=username)
    return cleaned


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        return _throttled_clean(self, super().clean)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        return _throttled_clean(self, super().clean)
