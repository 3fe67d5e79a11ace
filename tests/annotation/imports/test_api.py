"""Import jobs over the REST API: upload, run, read the summary; other projects and roles get 404."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.imports.tasks import run_import
from annotation.models import Item
from core.models import Membership, Role
from tests.factories import annotation_project

pytestmark = pytest.mark.django_db


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def jsonl(rows):
    data = io.BytesIO("\n".join(json.dumps(r) for r in rows).encode())
    data.name = "items.jsonl"
    return data


def test_admin_uploads_a_file_and_reads_the_summary():
    project, _ = annotation_project(items=0)
    admin = Membership.objects.get(project=project, role=Role.ADMIN).user
    client = api_for(admin)
    rows = [{"prompt": f"Q{n}?", "responses": [f"a{n}", f"b{n}"]} for n in range(3)]
    created = client.post(reverse("api-imports", args=[project.pk]), {"file": jsonl(rows)}, format="multipart")
    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    run_import(job_id)
    job = client.get(reverse("api-import", args=[project.pk, job_id])).json()
    assert (job["status"], job["items_created"], job["rows_read"]) == ("succeeded", 3, 3)
    assert Item.objects.filter(project=project).count() == 3
    assert client.get(reverse("api-imports", args=[project.pk])).json()["count"] == 1


def test_bad_line_is_reported_with_its_number_and_nothing_written():
    project, _ = annotation_project(items=0)
    client = api_for(Membership.objects.get(project=project, role=Role.ADMIN).user)
    rows = [{"prompt": "ok?", "responses": ["a", "b"]}, {"prompt": "bad", "responses": ["only one"]}]
    job_id = client.post(reverse("api-imports", args=[project.pk]), {"file": jsonl(rows)}, format="multipart").json()[
        "id"
    ]
    run_import(job_id)
    job = client.get(reverse("api-import", args=[project.pk, job_id])).json()
    assert job["status"] == "failed"
    assert job["errors"][0]["line"] == 2
    assert Item.objects.filter(project=project).count() == 0


def test_wrong_extension_is_refused_up_front():
    project, _ = annotation_project(items=0)
    client = api_for(Membership.objects.get(project=project, role=Role.ADMIN).user)
    upload = io.BytesIO(b"<html></html>")
    upload.name = "x.html"
    response = client.post(reverse("api-imports", args=[project.pk]), {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "accepted files" in response.json()["file"][0]


def test_annotators_and_other_projects_get_404():
    project, [annotator] = annotation_project(items=0)
    other, _ = annotation_project(items=0)
    other_admin = Membership.objects.get(project=other, role=Role.ADMIN).user
    for user in (annotator, other_admin):
        response = api_for(user).post(
            reverse("api-imports", args=[project.pk]), {"file": jsonl([{"prompt": "x"}])}, format="multipart"
        )
        assert response.status_code == 404
