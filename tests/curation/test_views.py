"""Snapshot pages: create -> detail -> status partial -> download, and who may see what."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from core.models import Role
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.services.snapshots import snapshot_build
from tests.curation.judging import judged_project
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

FORM = {
    "name": "June pairs",
    "tables": ["preference", "unpaired", "raw"],
    "file_format": "both",
    "prompt_format": "auto",
    "test_fraction": "0",
    "split_seed": "0",
    "margin_mode": "level_fraction",
    "margin_scale": "1",
    "rating_pair_min_gap": "0.25",
    "rating_label_threshold": "0.5",
}


def url(name, *args):
    return reverse(f"curation:{name}", args=args)


def built(project, researcher, client):
    client.force_login(researcher)
    response = client.post(url("snapshot_create", project.pk), FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    snapshot = DatasetSnapshot.objects.get()
    snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    return snapshot


def test_create_detail_status_download(client, media):
    project, annotators, researcher = judged_project("pairwise")
    client.force_login(researcher)
    page = client.get(url("snapshot_create", project.pk))
    assert page.status_code == 200
    assert annotators[0].username in page.content.decode()  # the annotator filter lists members

    response = client.post(url("snapshot_create", project.pk), {**FORM, "annotator_ids": [annotators[0].pk]})
    snapshot = DatasetSnapshot.objects.get()
    assert response["Location"] == url("snapshot_detail", project.pk, snapshot.pk)
    assert snapshot.filters["annotator_ids"] == [annotators[0].pk]

    queued = client.get(url("snapshot_status", project.pk, snapshot.pk))
    assert queued.status_code == 200
    assert 'hx-trigger="every 1s"' in queued.content.decode()  # keeps polling while queued

    snapshot_build(snapshot_id=snapshot.pk)
    done = client.get(url("snapshot_status", project.pk, snapshot.pk), {"detail": "1"})
    assert done.status_code == 286  # htmx stops polling
    assert done["HX-Refresh"] == "true"
    assert "hx-trigger" not in done.content.decode()

    detail = client.get(url("snapshot_detail", project.pk, snapshot.pk)).content.decode()
    snapshot.refresh_from_db()
    assert snapshot.sha256 in detail
    assert "preference.parquet" in detail

    for entry in snapshot.files:
        first = client.get(url("snapshot_download", project.pk, snapshot.pk, entry["name"]))
        assert first.status_code == 200
        assert first["Content-Disposition"].startswith("attachment;")
        body = b"".join(first.streaming_content)
        again = b"".join(client.get(url("snapshot_download", project.pk, snapshot.pk, entry["name"])).streaming_content)
        assert body == again
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    manifest = client.get(url("snapshot_download", project.pk, snapshot.pk, "manifest.json"))
    assert hashlib.sha256(b"".join(manifest.streaming_content)).hexdigest() == snapshot.sha256


def test_list_shows_progress_and_polls_only_unfinished(client, media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    finished = built(project, researcher, client)
    client.post(url("snapshot_create", project.pk), {**FORM, "name": "Second"})
    page = client.get(url("snapshot_list", project.pk)).content.decode()
    assert page.count('hx-trigger="every 1s"') == 1
    assert "<progress" in page
    assert 'style="' not in page
    assert finished.name in page


def test_form_errors_are_shown_and_nothing_is_created(client, media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    client.force_login(researcher)
    response = client.post(
        url("snapshot_create", project.pk), {**FORM, "created_from": "2026-05-02", "created_to": "2026-05-01"}
    )
    assert response.status_code == 200
    assert "the date range ends before it starts" in response.content.decode()
    assert not DatasetSnapshot.objects.exists()


def test_failed_build_shows_its_error(client, media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    client.force_login(researcher)
    client.post(url("snapshot_create", project.pk), FORM)
    snapshot = DatasetSnapshot.objects.get()
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(status=SnapshotStatus.FAILED, error="Boom: disk full")
    response = client.get(url("snapshot_status", project.pk, snapshot.pk))
    assert response.status_code == 286
    assert "Boom: disk full" in response.content.decode()
    assert client.get(url("snapshot_download", project.pk, snapshot.pk, "manifest.json")).status_code == 404


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_other_roles_get_404_everywhere(client, media, role):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    snapshot = built(project, researcher, client)
    member = MembershipFactory(project=project, role=role).user
    client.force_login(member)
    for name, args in [
        ("snapshot_list", (project.pk,)),
        ("snapshot_create", (project.pk,)),
        ("snapshot_detail", (project.pk, snapshot.pk)),
        ("snapshot_status", (project.pk, snapshot.pk)),
        ("snapshot_download", (project.pk, snapshot.pk, "preference.jsonl")),
    ]:
        assert client.get(url(name, *args)).status_code == 404, name
    assert client.post(url("snapshot_create", project.pk), FORM).status_code == 404
    assert DatasetSnapshot.objects.count() == 1


def test_admin_may_create(client, media):
    project, _, _ = judged_project("pairwise", items=1, annotators=1)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    client.force_login(admin)
    assert client.post(url("snapshot_create", project.pk), FORM).status_code == 302


def test_another_projects_researcher_cannot_reach_the_snapshot(client, media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    snapshot = built(project, researcher, client)
    other, _, stranger = judged_project("pairwise", items=1, annotators=1)
    client.force_login(stranger)
    # Through their own project's URL with our snapshot id, and through our project's URL.
    for project_id in (other.pk, project.pk):
        for name, extra in [
            ("snapshot_detail", ()),
            ("snapshot_status", ()),
            ("snapshot_download", ("manifest.json",)),
        ]:
            assert client.get(url(name, project_id, snapshot.pk, *extra)).status_code == 404, (name, project_id)


def test_download_refuses_names_outside_the_snapshot(client, media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    snapshot = built(project, researcher, client)
    for name in ("..", "secret.txt", ".%2e", "manifest.json%00"):
        assert client.get(url("snapshot_detail", project.pk, snapshot.pk) + f"files/{name}").status_code == 404, name


def test_anonymous_is_sent_to_login(client, media):
    project, _, _ = judged_project("pairwise", items=1, annotators=1)
    response = client.get(url("snapshot_list", project.pk))
    assert response.status_code == 302
    assert "login" in response["Location"]
