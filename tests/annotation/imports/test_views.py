"""Import pages: upload, follow the job by polling, read the summary or the errors; admins only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation.imports.tasks import run_import
from annotation.models import Item
from annotation.models_imports import ImportJob
from annotation.services.projects import annotation_project_create
from core.models import Role
from tests.annotation.imports.files import jsonl, parquet_bytes
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PAIRS = [{"prompt": f"Q{n}?", "responses": [f"A{n}", f"B{n}"]} for n in range(3)]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(admin):
    return annotation_project_create(name="Pairs", created_by=admin, task_kind="pairwise", overlap=2)


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def urls(project, job=None):
    pages = [
        reverse("annotation:import_list", args=[project.pk]),
        reverse("annotation:import_create", args=[project.pk]),
    ]
    if job is not None:
        pages += [
            reverse("annotation:import_detail", args=[project.pk, job.pk]),
            reverse("annotation:import_status", args=[project.pk, job.pk]),
        ]
    return pages


def post_file(client, project, name, data, shape=""):
    return client.post(
        reverse("annotation:import_create", args=[project.pk]),
        {"file": SimpleUploadedFile(name, data), "shape": shape},
    )


def test_upload_then_poll_the_status_until_the_summary(admin_client, project):
    page = admin_client.get(reverse("annotation:import_create", args=[project.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "200.0\xa0MB" in body
    assert "1.0\xa0MB" in body
    assert "response_1,response_2" in body
    assert "&quot;chosen&quot;" in body

    response = post_file(admin_client, project, "pairs.jsonl", jsonl(*PAIRS))
    job = ImportJob.objects.get()
    detail = reverse("annotation:import_detail", args=[project.pk, job.pk])
    status = reverse("annotation:import_status", args=[project.pk, job.pk])
    assert response.status_code == 302
    assert response["Location"] == detail

    body = admin_client.get(detail).content.decode()
    assert f'hx-get="{status}"' in body
    assert 'hx-trigger="every 1s"' in body
    assert "<progress" in body
    assert "Queued" in body

    polled = admin_client.get(status, **HTMX)
    assert polled.status_code == 200  # still polling
    assert "<progress" in polled.content.decode()
    assert "<html" not in polled.content.decode()

    run_import(job.pk)
    polled = admin_client.get(status, **HTMX)
    body = polled.content.decode()
    assert polled.status_code == 286  # htmx stops polling on 286 and still shows this last answer
    assert "Imported" in body
    assert "<dt>Rows read</dt><dd>3</dd>" in body
    assert "<dt>Items created</dt><dd>3</dd>" in body
    assert "<dt>Duplicates skipped</dt><dd>0 " in body
    assert Item.objects.filter(project=project, required=2, open_slots=2).count() == 3

    finished = admin_client.get(detail).content.decode()
    assert "hx-trigger" not in finished
    assert "Imported" in finished


def test_a_failed_import_lists_each_error_with_its_line_and_field(admin_client, project):
    post_file(admin_client, project, "bad.jsonl", jsonl(PAIRS[0], {"prompt": "Q", "responses": ["A"]}, "{nope"))
    job = ImportJob.objects.get()
    run_import(job.pk)
    polled = admin_client.get(reverse("annotation:import_status", args=[project.pk, job.pk]), **HTMX)
    body = polled.content.decode()
    assert polled.status_code == 286
    assert "Failed: nothing was imported" in body
    assert "line 2</td><td><code>responses</code></td><td>found 1;" in body
    assert "line 3</td><td>—</td><td>not valid JSON" in body
    assert not Item.objects.exists()


def test_csv_errors_say_row(admin_client, project):
    post_file(admin_client, project, "bad.csv", b"prompt,score\nQ,1\n")
    job = ImportJob.objects.get()
    run_import(job.pk)
    body = admin_client.get(reverse("annotation:import_detail", args=[project.pk, job.pk])).content.decode()
    assert "row 1</td><td><code>score</code></td><td>unknown column" in body


def test_past_imports_are_listed(admin_client, project):
    post_file(admin_client, project, "first.jsonl", jsonl(*PAIRS))
    post_file(admin_client, project, "second.jsonl", jsonl(*PAIRS))
    run_import(ImportJob.objects.get(original_filename="first.jsonl").pk)
    page = admin_client.get(reverse("annotation:import_list", args=[project.pk])).content.decode()
    body = page[page.index("<table") :]
    assert body.index("second.jsonl") < body.index("first.jsonl")  # newest first
    assert "Succeeded" in body
    assert "Queued" in body


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(admin_client, project, settings, media):
    settings.IMPORT_MAX_FILE_BYTES = 50
    response = post_file(admin_client, project, "pairs.jsonl", jsonl(*PAIRS))
    assert response.status_code == 413
    assert "larger than the limit of 50" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not any(Path(media).rglob("*.*"))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("pairs.txt", jsonl(*PAIRS), "accepted files"),
        ("pairs.parquet", jsonl(*PAIRS), "not a Parquet file"),
        ("empty.csv", b"", "The submitted file is empty."),
    ],
)
def test_wrong_files_are_refused_on_the_form(admin_client, project, name, data, message):
    response = post_file(admin_client, project, name, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_shape_choice_offers_only_what_the_project_accepts(admin_client, admin):
    rating = annotation_project_create(name="Ratings", created_by=admin, task_kind="rating")
    body = admin_client.get(reverse("annotation:import_create", args=[rating.pk])).content.decode()
    assert 'value="messages"' in body
    assert 'value="preference"' not in body
    response = post_file(admin_client, rating, "pref.jsonl", jsonl(PAIRS[0]), shape="preference")
    assert "Select a valid choice" in response.content.decode()


def test_upload_still_checks_csrf(admin, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = post_file(client, project, "pairs.jsonl", jsonl(*PAIRS))
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.RESEARCHER])
def test_members_who_are_not_admins_get_404(client, project, admin, role):
    job = ImportJob.objects.create(
        project=project, original_filename="a.jsonl", file_path="x", file_size=1, format="jsonl"
    )
    member = MembershipFactory(project=project, role=role).user
    client.force_login(member)
    for url in urls(project, job):
        assert client.get(url).status_code == 404, url
    assert post_file(client, project, "pairs.jsonl", jsonl(*PAIRS)).status_code == 404
    assert ImportJob.objects.count() == 1


def test_admins_of_another_project_get_404(client, project):
    job = ImportJob.objects.create(
        project=project, original_filename="a.jsonl", file_path="x", file_size=1, format="jsonl"
    )
    other_admin = UserFactory()
    other = annotation_project_create(name="Other", created_by=other_admin, task_kind="pairwise")
    client.force_login(other_admin)
    for url in urls(project, job):
        assert client.get(url).status_code == 404, url
    # Their own project's URL with this project's job id: still nothing.
    assert client.get(reverse("annotation:import_detail", args=[other.pk, job.pk])).status_code == 404
    assert client.get(reverse("annotation:import_status", args=[other.pk, job.pk]), **HTMX).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, project):
    for url in urls(project):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "running", "phase": "checking", "rows_read": 40, "total_rows": 100}, 'value="40" max="100"'),
        ({"status": "running", "phase": "checking", "rows_read": 40}, "40 so far"),
        ({"status": "running", "phase": "writing", "rows_written": 30, "total_rows": 100}, 'value="30" max="100"'),
        ({"status": "running", "phase": "writing", "total_rows": 100}, "Writing 100 rows"),
    ],
    ids=["checking", "checking, total unknown", "writing", "writing, no progress yet"],
)
def test_a_running_job_shows_its_progress_and_keeps_polling(admin_client, project, fields, expected):
    job = ImportJob.objects.create(
        project=project, original_filename="a.jsonl", file_path="x", file_size=1, format="jsonl", **fields
    )
    polled = admin_client.get(reverse("annotation:import_status", args=[project.pk, job.pk]), **HTMX)
    assert polled.status_code == 200
    assert "<progress" in polled.content.decode()
    assert expected in polled.content.decode()


def test_errors_about_the_whole_file_say_so(admin_client, project):
    post_file(admin_client, project, "bad.parquet", parquet_bytes([{"prompt": 1, "responses": ["A", "B"]}]))
    job = ImportJob.objects.get()
    run_import(job.pk)
    body = admin_client.get(reverse("annotation:import_detail", args=[project.pk, job.pk])).content.decode()
    assert "whole file</td><td><code>prompt</code></td><td>column type is int64" in body
