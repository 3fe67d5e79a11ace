"""Uploaded and exported content is never rendered in our origin (SECURITY-CASES #6, #7).

Label Studio served uploads from ``/data/upload/`` in-origin, so an uploaded HTML or SVG file ran
script as the victim. Here: imports accept only JSONL, CSV and Parquet, checked by extension and by
their first bytes; an accepted file is stored under a random name and no URL serves it; the import
pages show the file's name and problems as escaped text; and every download (snapshot files, by
page and API) is an attachment with a non-HTML type, ``nosniff`` and a ``sandbox`` CSP.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models_imports import ImportJob
from annotation.schemas import SchemaError
from annotation.services.imports import import_job_create, import_job_run
from annotation.services.projects import annotation_project_create, item_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.middleware import DOWNLOAD_POLICY
from core.models import Role
from core.services import membership_set
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOSTILE_NAME = '<img src=x onerror="alert(1)">'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
RENDERABLE_TYPES = ("text/html", "image/svg", "application/xhtml", "text/xml", "application/xml", "text/javascript")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def project_and_admin(media):
    admin = UserFactory()
    project = annotation_project_create(name="uploads", created_by=admin, task_kind="pairwise", overlap=1)
    return project, admin


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def assert_escaped_page(response) -> None:
    assert response["Content-Type"].startswith("text/html")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    body = response.content.decode()
    assert HOSTILE_NAME not in body
    assert "<script>alert" not in body
    assert "<svg" not in body


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", HTML),
        ("page.htm", HTML),
        ("image.svg", SVG),
        ("page.xhtml", HTML),
        ("items.jsonl.html", HTML),
        (f"{HOSTILE_NAME}.svg", SVG),
    ],
)
def test_html_and_svg_files_are_refused_by_extension(client, project_and_admin, name, content):
    project, admin = project_and_admin
    client.force_login(admin)
    response = client.post(
        reverse("annotation:import_create", args=[project.pk]), {"file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code == 200
    assert "accepted files" in response.content.decode()
    assert_escaped_page(response)
    api = api_for(admin).post(
        reverse("api-imports", args=[project.pk]), {"file": SimpleUploadedFile(name, content)}, format="multipart"
    )
    assert api.status_code == 400
    assert api["Content-Type"] == "application/json"
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(("name", "content"), [("page.jsonl", HTML), ("image.jsonl", SVG), ("x.csv", b"\x00" + SVG)])
def test_html_and_svg_inside_an_accepted_extension_are_refused_by_content(project_and_admin, name, content):
    project, admin = project_and_admin
    with pytest.raises(SchemaError, match=r"JSONL|binary"):
        import_job_create(project=project, user=admin, uploaded_file=SimpleUploadedFile(name, content))
    assert not ImportJob.objects.exists()


def test_an_accepted_upload_is_stored_under_a_random_name_and_never_served(client, project_and_admin, media):
    project, admin = project_and_admin
    job = import_job_create(
        project=project,
        user=admin,
        uploaded_file=SimpleUploadedFile(f"{HOSTILE_NAME}.jsonl", b'{"prompt": "p", "responses": ["a", "b"]}'),
    )
    assert re.fullmatch(r"imports/[0-9a-f]{32}\.jsonl", job.file_path)
    assert (media / job.file_path).is_file()
    client.force_login(admin)
    for path in (f"/media/{job.file_path}", f"/{job.file_path}", f"/static/../{job.file_path}"):
        assert client.get(path).status_code == 404, path


def test_import_pages_show_names_and_problems_as_text(client, project_and_admin):
    project, admin = project_and_admin
    rows = b'{"prompt": "<script>alert(1)</script>", "responses": ["<svg onload=alert(1)>"]}\n'
    job = import_job_create(
        project=project, user=admin, uploaded_file=SimpleUploadedFile(f"{HOSTILE_NAME}.jsonl", rows)
    )
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"  # one response where a pair is needed: a problem that quotes the row
    client.force_login(admin)
    for url in (
        reverse("annotation:import_list", args=[project.pk]),
        reverse("annotation:import_detail", args=[project.pk, job.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert_escaped_page(response)
        assert "&lt;img src=x onerror=" in response.content.decode()
    api = api_for(admin).get(reverse("api-import", args=[project.pk, job.pk]))
    assert api["Content-Type"] == "application/json"
    assert api.json()["original_filename"] == f"{HOSTILE_NAME}.jsonl"  # data in JSON, never markup


@pytest.fixture
def hostile_snapshot(project_and_admin):
    project, admin = project_and_admin
    annotator = UserFactory()
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    item_create(project=project, prompt=HTML.decode(), responses=[SVG.decode(), HTML.decode()])
    lease = assignment_claim_next(annotator=annotator, project=project).assignment
    judgment_submit(annotator=annotator, project=project, assignment_id=lease.pk,
                    payload={"outcome": "preferred", "preferred": lease.display_order[0], "strength": "better",
                             "reason": SVG.decode()}, client_key=uuid.uuid4().hex,
                    time_spent_ms=5)  # fmt: skip
    options = {"tables": ["preference", "unpaired", "raw"], "file_format": "both"}
    snapshot = snapshot_create(project=project, user=admin, name=HOSTILE_NAME, filters={}, options=options)
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    assert snapshot.status == "succeeded", snapshot.error
    return project, admin, snapshot


def test_snapshot_downloads_are_sandboxed_attachments_never_html(client, hostile_snapshot):
    project, admin, snapshot = hostile_snapshot
    names = [entry["name"] for entry in snapshot.files] + ["manifest.json"]
    assert any(name.endswith(".parquet") for name in names)
    assert any(name.endswith(".jsonl") for name in names)
    client.force_login(admin)
    api = api_for(admin)
    for name in names:
        for response in (
            client.get(reverse("curation:snapshot_download", args=[project.pk, snapshot.pk, name])),
            api.get(reverse("api-snapshot-file", args=[project.pk, snapshot.pk, name])),
        ):
            assert response.status_code == 200, name
            assert response["Content-Disposition"].startswith("attachment"), name
            assert not response["Content-Type"].startswith(RENDERABLE_TYPES), (name, response["Content-Type"])
            assert response["X-Content-Type-Options"] == "nosniff"
            assert response["Content-Security-Policy"] == DOWNLOAD_POLICY
            body = b"".join(response.streaming_content)
            if name.endswith((".jsonl", ".json")):
                assert b"<script>" in body or name == "manifest.json"  # the data really is hostile...
    # ...and the pages that show the snapshot escape it.
    page = client.get(reverse("curation:snapshot_detail", args=[project.pk, snapshot.pk]))
    assert_escaped_page(page)


def test_pages_keep_the_strict_policy(client, project_and_admin):
    project, admin = project_and_admin
    client.force_login(admin)
    policy = client.get(reverse("annotation:project_detail", args=[project.pk]))["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "sandbox" not in policy
    assert "unsafe-eval" not in policy


def test_exported_files_keep_hostile_text_verbatim(hostile_snapshot, media):
    """The files keep the text exactly (a dataset is data), so safety comes from how they are served."""
    _, _, snapshot = hostile_snapshot
    raw = next(e for e in snapshot.files if e["name"].startswith("raw") and e["name"].endswith(".jsonl"))
    text = (media / snapshot.folder / raw["name"]).read_text(encoding="utf-8")
    assert "<script>alert(document.cookie)</script>" in text
