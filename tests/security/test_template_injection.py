"""User text is never evaluated as a template (SECURITY-CASES #15).

doccano's CWE-94 came from evaluating user-supplied templates. Here guidelines, names, prompts,
responses and usernames are values handed to templates, never templates: template syntax in them
shows as the characters typed, on every page that shows them and in the API.
"""

from __future__ import annotations

import html

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.services.projects import annotation_project_create, item_create
from core.models import Role
from core.services import membership_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "{{ request.user.password }}",
    "{% load static %}{% get_static_prefix %}",
    "{{ 31337|add:1 }}",
    "{{31337*3}}",
    "${31337*3}",
    "#{31337*3}",
    "<%= 31337*3 %>",
    "{{ ''.__class__.__mro__ }}",
    "{% include 'base.html' %}",
    "{% now 'Y' %}",
]
TEXT = "\n\n".join(INJECTIONS)


@pytest.fixture
def world():
    admin, annotator = UserFactory(is_staff=True), UserFactory(display_name="{{ settings.SECRET_KEY }}")
    project = annotation_project_create(
        name="{{ settings.SECRET_KEY }} {% debug %}",
        created_by=admin,
        task_kind="pairwise",
        overlap=1,
        guidelines=TEXT,
        description="{{ request.user.password }}",
    )
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    item_create(project=project, prompt=TEXT, responses=[TEXT, "{% debug %}"])
    return project, admin, annotator


def assert_literal(body: str, where: str, *, expect: list[str]) -> None:
    text = html.unescape(body)
    assert settings.SECRET_KEY not in text, f"{where}: the secret key was rendered"
    for hash_prefix in ("pbkdf2_", "md5$", "argon2"):
        assert hash_prefix not in text, f"{where}: a password hash was rendered"
    for debug_output in ("{'DEBUG'", "sql_queries"):
        assert debug_output not in text, f"{where}: {{% debug %}} ran"
    assert "31338" not in text, f"{where}: a filter was applied"
    assert "94011" not in text, f"{where}: an expression was evaluated"
    for literal in expect:
        assert literal in text, f"{where}: {literal!r} is not shown as typed"


def test_template_syntax_in_project_text_shows_as_typed(client, world):
    project, admin, _annotator = world
    client.force_login(admin)
    for name in ("annotation:project_detail", "annotation:members"):
        response = client.get(reverse(name, args=[project.pk]))
        assert response.status_code == 200
        assert_literal(response.content.decode(), name, expect=["{{ settings.SECRET_KEY }}", "{% debug %}"])


def test_template_syntax_in_items_and_guidelines_shows_as_typed_to_annotators(client, world):
    project, _, annotator = world
    client.force_login(annotator)
    response = client.get(reverse("annotation:annotate", args=[project.pk]))
    assert response.status_code == 200
    assert_literal(response.content.decode(), "annotate", expect=INJECTIONS[:4])


def test_the_api_returns_the_text_unchanged(world):
    project, admin, _ = world
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin).key}")
    detail = client.get(reverse("api-project", args=[project.pk])).json()
    assert detail["name"] == "{{ settings.SECRET_KEY }} {% debug %}"
    items = client.get(reverse("api-items", args=[project.pk])).json()["results"]
    assert settings.SECRET_KEY not in str(items)
    assert TEXT in str(items[0]) or TEXT.replace("\n", "\\n") in str(items[0])
