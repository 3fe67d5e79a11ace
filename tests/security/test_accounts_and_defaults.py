"""Accounts: no defaults, no self-signup, no writable profile JSON (SECURITY-CASES #11, #18, #20).

#18 (Argilla): documented default users and keys. A fresh install has no account and no token; the
first admin gets a generated password shown once; the demo data adds no login; compose refuses to
start without each secret.
#20 (Label Studio): open signup unless switched off. Signup is off and there is no route to it.
#11 (Label Studio ``custom_hotkeys``): a user-profile JSON field that stored script and was writable
across users. We have no profile or preferences endpoint and no free-form JSON on the user; the
JSON users do send (judgment payloads, snapshot filters) is schema-validated, and the one
self-service account action (the API token) acts only on the caller.
"""

from __future__ import annotations

import re
import uuid
from io import StringIO

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import models
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Judgment
from core.models import User
from tests.conftest import ROOT
from tests.factories import UserFactory, annotation_project
from tests.security.test_authorization_sweep import ROUTES

pytestmark = pytest.mark.django_db

WELL_KNOWN = ["admin", "password", "demo", "changeme", "change-me", "12345678", "admin123", "letmein", "owner"]
ACCOUNT_WORDS = re.compile(r"signup|sign-up|register|join|invite|profile|preference|hotkey|users?/|/me/|account/")


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


# --- #18 No default accounts --------------------------------------------------------------------


def test_a_migrated_database_has_no_account_and_no_token():
    assert User.objects.count() == 0
    assert Token.objects.count() == 0


def test_first_run_creates_one_admin_with_a_generated_password_and_the_demo_adds_no_login():
    out = StringIO()
    call_command("bootstrap", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    assert len(password) >= 20
    assert list(User.objects.values_list("username", flat=True)) == ["admin"]
    admin = User.objects.get()
    for guess in [*WELL_KNOWN, admin.username]:
        assert not admin.check_password(guess), guess
    assert Token.objects.count() == 0  # no API key until the admin asks for one


def test_compose_has_no_default_for_any_secret():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = sorted(set(re.findall(r"\$\{([A-Z_]*(?:PASSWORD|SECRET|KEY|AUTH|TOKEN)[A-Z_]*)([^}]*)\}", text)))
    assert secrets, "the scan found no secret variable at all"
    for name, modifier in secrets:
        assert modifier.startswith(":?"), f"${{{name}{modifier}}} must fail when unset, not fall back"
    assert compose["services"]


# --- #20 Invite only ------------------------------------------------------------------------------


def test_signup_is_off_and_no_route_creates_accounts(client):
    assert settings.SIGNUP_ENABLED is False
    assert [route for route, _, _ in ROUTES if ACCOUNT_WORDS.search(route)] == []
    for path in ("/accounts/signup/", "/signup/", "/register/", "/accounts/register/", "/api/v1/users/", "/join/"):
        assert client.post(
            path, {"username": "intruder", "password1": "x" * 20, "password2": "x" * 20}
        ).status_code in (
            404,
            405,
        )
    assert not User.objects.filter(username="intruder").exists()


def test_the_api_schema_offers_no_user_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()
    assert not [path for path in schema["paths"] if ACCOUNT_WORDS.search(path)]


# --- #11 No writable profile JSON; object-level account actions ---------------------------------------


def test_the_user_model_has_no_free_form_json():
    json_fields = [f.name for f in User._meta.get_fields() if isinstance(f, models.JSONField)]
    assert json_fields == []


def test_judgment_json_is_schema_validated_and_unknown_keys_are_refused():
    project, (annotator,) = annotation_project(items=1, annotators=1)
    client = api_for(annotator)
    lease = client.post(reverse("api-claim", args=[project.pk])).json()
    url = reverse("api-submit", args=[project.pk, lease["id"]])
    for payload in (
        {"outcome": "tie", "custom_hotkeys": {"a": "<script>alert(1)</script>"}},
        {"outcome": "<script>alert(1)</script>"},
        {"outcome": "tie", "reason": {"nested": "object"}},
        "<script>alert(1)</script>",
        ["tie"],
    ):
        response = client.post(
            url, {"payload": payload, "client_key": uuid.uuid4().hex, "time_spent_ms": 1}, format="json"
        )
        assert response.status_code == 400, (payload, response.content)
    assert not Judgment.objects.exists()


def test_snapshot_filters_and_options_refuse_unknown_keys():
    project, _ = annotation_project(items=1)
    admin = project.created_by
    client = api_for(admin)
    url = reverse("api-snapshots", args=[project.pk])
    for body in (
        {"name": "x", "filters": {"custom_hotkeys": "<script>"}},
        {"name": "x", "options": {"__class__": "x"}},
        {"name": "x", "filters": {"annotator_ids": ["<script>"]}},
    ):
        assert client.post(url, body, format="json").status_code == 400, body


def test_rotating_a_token_acts_only_on_the_caller(client):
    me, other = UserFactory(), UserFactory()
    theirs = Token.objects.create(user=other).key
    client.force_login(me)
    client.post(reverse("api_token"), {"user": other.pk, "user_id": other.pk, "username": other.username})
    assert Token.objects.get(user=other).key == theirs
    assert Token.objects.filter(user=me).exists()


def test_staff_without_user_permissions_cannot_edit_another_account(client):
    victim = UserFactory(display_name="victim")
    client.force_login(UserFactory(is_staff=True))  # staff, but no auth.change_user permission
    change = reverse("admin:core_user_change", args=[victim.pk])
    assert client.get(change).status_code == 403
    assert client.post(change, {"username": victim.username, "display_name": "<script>"}).status_code == 403
    victim.refresh_from_db()
    assert victim.display_name == "victim"
