from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from core.models import User

pytestmark = pytest.mark.django_db


def test_no_account_exists_before_bootstrap():
    assert not User.objects.exists()


def test_bootstrap_creates_admin_with_generated_password_that_signs_in(client):
    out = StringIO()
    call_command("bootstrap", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    assert len(password) >= 20

    response = client.post(reverse("login"), {"username": "admin", "password": password})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200

    # A second run shows no password and keeps the account as it was.
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert "password:" not in again.getvalue()
    assert User.objects.get(username="admin").check_password(password)


def test_each_bootstrap_generates_a_different_password():
    first, second = StringIO(), StringIO()
    call_command("bootstrap", "--admin-username", "a1", "--no-demo", stdout=first)
    call_command("bootstrap", "--admin-username", "a2", "--no-demo", stdout=second)
    pw = [re.search(r"password: (\S+)", o.getvalue()).group(1) for o in (first, second)]
    assert pw[0] != pw[1]


def test_wrong_password_is_refused_with_a_message(client):
    call_command("bootstrap", "--no-demo", stdout=StringIO())
    response = client.post(reverse("login"), {"username": "admin", "password": "not-it"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert client.get(reverse("home")).status_code == 302


def test_home_requires_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_has_strict_csp_and_local_htmx(client):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    html = response.content.decode()
    assert '<script src="/static/vendor/htmx.min.js"' in html
    assert "<script>" not in html  # no inline script anywhere


def test_logout_is_a_post(client, user):
    client.force_login(user)
    assert client.get(reverse("home")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_empty_state_when_user_has_no_project(client, user):
    client.force_login(user)
    assert b"No projects yet" in client.get(reverse("home")).content


def test_api_docs_page_serves_its_assets_locally(client, user):
    client.force_login(user)
    html = client.get(reverse("api-docs")).content.decode()
    assert "cdn" not in html.lower()
    assert "<script>" not in html
    assert client.get(reverse("api-schema")).status_code == 200


def test_api_token_is_created_and_replaced(client, user):
    from rest_framework.authtoken.models import Token

    client.force_login(user)
    assert "no token yet" in client.get(reverse("api_token")).content.decode()
    client.post(reverse("api_token"))
    first = Token.objects.get(user=user).key
    assert first in client.get(reverse("api_token")).content.decode()
    client.post(reverse("api_token"))
    assert Token.objects.get(user=user).key != first
