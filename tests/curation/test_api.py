"""Snapshots over the REST API: create, build, read, download the same bytes twice; scoping."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from curation.models import DatasetSnapshot
from curation.tasks import build_snapshot
from tests.curation.judging import judged_project

pytestmark = pytest.mark.django_db


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_researcher_creates_builds_and_downloads_a_snapshot(media):
    project, _, researcher = judged_project("pairwise", items=3, annotators=2)
    client = api_for(researcher)
    created = client.post(reverse("api-snapshots", args=[project.pk]), {"name": "round 1"}, format="json")
    assert created.status_code == 201, created.content
    snapshot_id = created.json()["id"]
    build_snapshot(snapshot_id)
    body = client.get(reverse("api-snapshot", args=[project.pk, snapshot_id])).json()
    assert body["status"] == "succeeded"
    names = [f["name"] for f in body["files"]]
    assert "manifest.json" not in names
    url = reverse("api-snapshot-file", args=[project.pk, snapshot_id, "manifest.json"])
    first = b"".join(client.get(url).streaming_content)
    second = b"".join(client.get(url).streaming_content)
    assert first == second
    assert json.loads(first)["snapshot_id"] == snapshot_id
    assert client.get(reverse("api-snapshots", args=[project.pk])).json()["count"] == 1


def test_bad_options_are_named_and_nothing_is_created(media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    response = api_for(researcher).post(
        reverse("api-snapshots", args=[project.pk]), {"name": "x", "options": {"file_format": "xml"}}, format="json"
    )
    assert response.status_code == 400
    assert any(key.startswith("options") for key in response.json())
    assert not DatasetSnapshot.objects.exists()


def test_annotators_and_other_projects_cannot_reach_snapshots(media):
    project, annotators, researcher = judged_project("pairwise", items=1, annotators=1)
    other, _, other_researcher = judged_project("pairwise", items=1, annotators=1)
    snapshot_id = (
        api_for(researcher).post(reverse("api-snapshots", args=[project.pk]), {"name": "s"}, format="json").json()["id"]
    )
    build_snapshot(snapshot_id)
    for user in (annotators[0], other_researcher):
        client = api_for(user)
        assert client.get(reverse("api-snapshots", args=[project.pk])).status_code == 404
        assert client.get(reverse("api-snapshot", args=[project.pk, snapshot_id])).status_code == 404
        url = reverse("api-snapshot-file", args=[project.pk, snapshot_id, "manifest.json"])
        assert client.get(url).status_code == 404
    # Their own project id with our snapshot id is a 404 too.
    assert api_for(other_researcher).get(reverse("api-snapshot", args=[other.pk, snapshot_id])).status_code == 404
