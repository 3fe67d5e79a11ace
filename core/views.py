from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.authtoken.models import Token

from core.models import User
from core.selectors import project_list_for_user
from core.services import token_rotate


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = project_list_for_user(user=request.user)  # type: ignore[arg-type]
    return render(request, "core/home.html", {"projects": projects})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_required
def api_token(request: HttpRequest) -> HttpResponse:
    """Show the user's API token; POST makes a new one (the old one stops working at once)."""
    user = request.user
    assert isinstance(user, User)
    token: Token | None = (
        token_rotate(user=user) if request.method == "POST" else Token.objects.filter(user=user).first()
    )
    return render(request, "core/api_token.html", {"token": token})
