"""The audit log: what is recorded, that nothing can change it, and who may read it (SECURITY-CASES #19).

Role changes, token rotation, account creation, sign-in failures and exports each leave one event;
secrets never reach it; the model, its querysets and the admin refuse edits and deletes; a project's
log is for its admins only (another project's admin gets a 404) and the site log is for staff.
"""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse

from core.audit import REDACTED, AuditAction, audit_record
from core.models import AppendOnlyError, AuditEvent, Membership, Role
from core.services import admin_ensure, membership_change, membership_set
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.services.snapshots import snapshot_create
from models_registry.models import Checkpoint
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from training.models import TrainingSchedule
from training.services.schedules import schedule_delete

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def project_admin(client):
    admin = UserFactory()
    project = ProjectFactory()
    membership_set(project=project, user=admin, role=Role.ADMIN)
    client.force_login(admin)
    return project, admin


def everything_stored() -> str:
    """Every audit row as text, to search for things that must never be there."""
    return json.dumps(list(AuditEvent.objects.values()), default=str)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# --- What is recorded ------------------------------------------------------------------------------


def test_role_changes_from_the_members_page_record_who_what_and_from_to(client, project_admin):
    project, admin = project_admin
    member = UserFactory(username="newcomer")
    client.post(reverse("annotation:members", args=[project.pk]), {"username": "newcomer", "role": "annotator"})
    membership = Membership.objects.get(project=project, user=member)
    change = reverse("annotation:member_change", args=[project.pk, membership.pk])
    client.post(change, {"role": "researcher"})
    client.post(change, {"role": "remove"})

    added, changed = events(AuditAction.MEMBERSHIP_SET)[-2:]
    (removed,) = events(AuditAction.MEMBERSHIP_REMOVE)
    for event in (added, changed, removed):
        assert event.actor == admin
        assert event.actor_label == admin.username
        assert event.project == project
        assert (event.target_type, event.target_id) == ("core.user", str(member.pk))
    assert added.details == {"username": "newcomer", "from": None, "to": "annotator"}
    assert changed.details == {"username": "newcomer", "from": "annotator", "to": "researcher"}
    assert removed.details == {"username": "newcomer", "from": "researcher", "to": None}


def test_setting_the_same_role_again_records_nothing():
    project, user = ProjectFactory(), UserFactory()
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    before = AuditEvent.objects.count()
    membership_change(project=project, user=user, role=Role.ANNOTATOR)
    assert AuditEvent.objects.count() == before


def test_a_refused_last_admin_change_records_nothing():
    project, admin = ProjectFactory(), UserFactory()
    membership_set(project=project, user=admin, role=Role.ADMIN)
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="at least one admin"):
        membership_change(project=project, user=admin, role=None, actor=admin)
    assert AuditEvent.objects.count() == before


def test_token_rotation_is_recorded_without_the_key(client, user):
    client.force_login(user)
    client.post(reverse("api_token"))
    first = user.auth_token.key
    client.post(reverse("api_token"))
    user.refresh_from_db()
    created, replaced = events(AuditAction.API_KEY_ROTATE)
    assert created.actor == user
    assert created.details == {"replaced": False}
    assert replaced.details == {"replaced": True}
    stored = everything_stored()
    assert first not in stored
    assert user.auth_token.key not in stored


def test_first_admin_creation_is_recorded_without_the_password():
    created = admin_ensure(username="owner")
    (event,) = events(AuditAction.ADMIN_CREATE)
    assert event.actor is None
    assert event.target_id == str(created.user.pk)
    assert event.details == {"username": "owner"}
    assert created.password
    assert created.password not in everything_stored()
    admin_ensure(username="owner")  # idempotent: nothing happened, nothing recorded
    assert len(events(AuditAction.ADMIN_CREATE)) == 1


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_failed_sign_in_records_name_and_address_never_the_password(client, url_name):
    victim = UserFactory(username="victim", is_staff=True)
    client.post(reverse(url_name), {"username": "victim", "password": "hunter2-wrong-guess"})
    (event,) = events(AuditAction.LOGIN_FAILED)
    assert event.actor is None  # whoever typed it is not known to be the account's owner
    assert event.target_id == str(victim.pk)
    assert event.details == {"username": "victim", "admin_site": url_name == "admin:login"}
    assert event.ip == "127.0.0.1"
    assert "hunter2-wrong-guess" not in everything_stored()


def test_unknown_username_is_recorded_without_a_target(client):
    client.post(reverse("login"), {"username": "nobody-here", "password": "whatever-it-is"})
    (event,) = events(AuditAction.LOGIN_FAILED)
    assert event.target_type == ""
    assert event.details["username"] == "nobody-here"


def test_blocked_sign_ins_are_recorded_once_per_window(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    UserFactory(username="target")
    for _ in range(6):
        client.post(reverse("login"), {"username": "target", "password": "wrong-password-1"})
    assert len(events(AuditAction.LOGIN_FAILED)) == 2
    assert len(events(AuditAction.LOGIN_BLOCKED)) == 1
    client.post(reverse("login"), {"username": "target", "password": PASSWORD})  # right password, still blocked
    assert len(events(AuditAction.LOGIN_BLOCKED)) == 1
    assert PASSWORD not in everything_stored()


def test_successful_sign_in_records_nothing(client):
    UserFactory(username="regular")
    assert client.post(reverse("login"), {"username": "regular", "password": PASSWORD}).status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="account.login").exists()


def test_snapshot_export_is_recorded_with_its_filters(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    project, researcher = ProjectFactory(), UserFactory()
    membership_set(project=project, user=researcher, role=Role.RESEARCHER)
    snapshot = snapshot_create(project=project, user=researcher, name="export 1", filters={}, options={})
    (event,) = events(AuditAction.SNAPSHOT_CREATE)
    assert (event.actor, event.project, event.target_id) == (researcher, project, str(snapshot.pk))
    assert event.details["name"] == "export 1"
    assert event.details["filters"] == snapshot.filters
    assert event.details["options"] == snapshot.options


def test_refused_export_records_nothing(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    project, annotator = ProjectFactory(), UserFactory()
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    with pytest.raises(PermissionDenied):
        snapshot_create(project=project, user=annotator, name="x", filters={}, options={})
    assert not events(AuditAction.SNAPSHOT_CREATE)


def downloadable_snapshot(media, project):
    """A succeeded snapshot with one stored file, as the build leaves it."""
    snapshot = DatasetSnapshot.objects.create(
        project=project, name="train", status=SnapshotStatus.SUCCEEDED, files=[{"name": "raw.jsonl"}]
    )
    folder = media / snapshot.folder
    folder.mkdir(parents=True)
    (folder / "raw.jsonl").write_bytes(b'{"prompt": "hi"}\n')
    return snapshot


@pytest.mark.parametrize("via", ["page", "api"])
def test_snapshot_downloads_are_recorded_with_who_which_file_and_from_where(client, settings, tmp_path, via):
    settings.MEDIA_ROOT = tmp_path
    project, researcher = ProjectFactory(), UserFactory()
    membership_set(project=project, user=researcher, role=Role.RESEARCHER)
    snapshot = downloadable_snapshot(tmp_path, project)
    client.force_login(researcher)
    url = (
        reverse("curation:snapshot_download", args=[project.pk, snapshot.pk, "raw.jsonl"])
        if via == "page"
        else f"/api/v1/projects/{project.pk}/snapshots/{snapshot.pk}/files/raw.jsonl"
    )
    response = client.get(url, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b'{"prompt": "hi"}\n'
    (event,) = events("snapshot.download")
    assert (event.actor, event.project, event.target_type, event.target_id) == (
        researcher,
        project,
        "curation.datasetsnapshot",
        str(snapshot.pk),
    )
    assert event.details == {"file": "raw.jsonl", "via": via}
    assert event.ip == "203.0.113.9"


def test_refused_downloads_record_nothing(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    project, annotator, researcher = ProjectFactory(), UserFactory(), UserFactory()
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    membership_set(project=project, user=researcher, role=Role.RESEARCHER)
    snapshot = downloadable_snapshot(tmp_path, project)
    client.force_login(annotator)  # not allowed to read snapshots at all
    assert (
        client.get(reverse("curation:snapshot_download", args=[project.pk, snapshot.pk, "raw.jsonl"])).status_code
        == 404
    )
    client.force_login(researcher)  # allowed, but the name is not one the snapshot recorded
    assert (
        client.get(reverse("curation:snapshot_download", args=[project.pk, snapshot.pk, "other.jsonl"])).status_code
        == 404
    )
    assert client.get(f"/api/v1/projects/{project.pk}/snapshots/{snapshot.pk}/files/other.jsonl").status_code == 404
    assert not events("snapshot.download")


def test_deleting_a_training_schedule_is_recorded_with_what_it_did():
    project, admin = ProjectFactory(), UserFactory()
    membership_set(project=project, user=admin, role=Role.ADMIN)
    base = Checkpoint.objects.create(project=project, kind="policy", name="base", location="/models/base")
    schedule = TrainingSchedule.objects.create(
        project=project, name="nightly", kind="reward", trigger="cron", cron="0 3 * * *",
        base_checkpoint=base, created_by=admin,
    )  # fmt: skip
    schedule_id = schedule.pk
    schedule_delete(schedule=schedule, user=admin)
    assert not TrainingSchedule.objects.filter(pk=schedule_id).exists()
    (event,) = events("training.schedule_delete")
    assert (event.actor, event.project, event.target_type, event.target_id) == (
        admin,
        project,
        "training.trainingschedule",
        str(schedule_id),
    )
    assert event.details == {
        "name": "nightly", "kind": "reward", "trigger": "cron", "every_n_judgments": None, "cron": "0 3 * * *"
    }  # fmt: skip


def test_a_refused_schedule_deletion_records_nothing():
    project, admin, researcher = ProjectFactory(), UserFactory(), UserFactory()
    membership_set(project=project, user=admin, role=Role.ADMIN)
    membership_set(project=project, user=researcher, role=Role.RESEARCHER)
    base = Checkpoint.objects.create(project=project, kind="policy", name="base", location="/models/base")
    schedule = TrainingSchedule.objects.create(
        project=project, name="n", kind="reward", trigger="judgments", every_n_judgments=5,
        base_checkpoint=base, created_by=admin,
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        schedule_delete(schedule=schedule, user=researcher)
    assert TrainingSchedule.objects.filter(pk=schedule.pk).exists()
    assert not events("training.schedule_delete")


# --- Secrets and size ------------------------------------------------------------------------------


def test_secret_named_details_are_redacted_at_any_depth():
    event = audit_record(
        actor=None,
        action="test.secrets",
        details={
            "password": "p1",
            "new_password1": "p2",
            "nested": {"api_key": "k", "Authorization": "Token abc", "ok": "kept"},
            "rows": [{"secret": "s"}],
        },
    )
    assert event.details == {
        "password": REDACTED,
        "new_password1": REDACTED,
        "nested": {"api_key": REDACTED, "Authorization": REDACTED, "ok": "kept"},
        "rows": [{"secret": REDACTED}],
    }


def test_oversized_details_are_cut():
    event = audit_record(actor=None, action="test.big", details={f"k{n}": "x" * 400 for n in range(100)})
    assert event.details["truncated"] is True
    assert len(json.dumps(event.details)) < 2_000


def test_action_names_are_bounded():
    with pytest.raises(ValueError, match="1 to 64"):
        audit_record(actor=None, action="")
    with pytest.raises(ValueError, match="1 to 64"):
        audit_record(actor=None, action="x" * 65)


# --- Append-only ---------------------------------------------------------------------------------


def test_an_event_cannot_be_edited_or_deleted():
    event = audit_record(actor=None, action="test.immutable", details={"a": 1})
    event.action = "test.rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="test.rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError), transaction.atomic():  # bulk_update's own block is rolled back
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.immutable"


def test_events_outlive_their_actor_and_project():
    project, actor = ProjectFactory(), UserFactory(username="leaver")
    event = audit_record(actor=actor, action="test.outlive", project=project)
    actor.delete()
    project.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor, event.project, event.actor_label) == (None, None, "leaver")


def test_admin_shows_events_read_only(client):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    event = audit_record(actor=superuser, action="test.admin")
    assert client.get(reverse("admin:core_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:core_auditevent_add")).status_code == 403
    change = client.get(reverse("admin:core_auditevent_change", args=[event.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert client.post(reverse("admin:core_auditevent_change", args=[event.pk]), {"action": "x"}).status_code == 403
    assert client.post(reverse("admin:core_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    bulk = client.post(
        reverse("admin:core_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302, 403)
    assert AuditEvent.objects.filter(pk=event.pk, action="test.admin").exists()


# --- Who may read it ------------------------------------------------------------------------------


def test_project_admin_sees_own_projects_events_only(client, project_admin):
    project, admin = project_admin
    other = ProjectFactory()
    audit_record(actor=admin, action="test.mine", project=project, details={"note": "MINE"})
    audit_record(actor=None, action="test.theirs", project=other, details={"note": "THEIRS"})
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED, details={"username": "SITEWIDE"})
    response = client.get(reverse("project_audit", args=[project.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "MINE" in body
    assert "THEIRS" not in body
    assert "SITEWIDE" not in body
    assert client.get(reverse("project_audit", args=[other.pk])).status_code == 404
    assert client.post(reverse("project_audit", args=[project.pk])).status_code == 405


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.RESEARCHER])
def test_other_roles_get_404_on_the_project_log(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)
    assert client.get(reverse("project_audit", args=[membership.project_id])).status_code == 404


def test_project_log_filters_by_action_and_pages(client, project_admin):
    project, admin = project_admin
    for n in range(60):
        audit_record(actor=admin, action="test.many", project=project, details={"n": n})
    audit_record(actor=admin, action="test.other", project=project, details={"n": "OTHER"})
    url = reverse("project_audit", args=[project.pk])
    filtered = client.get(url, {"action": "test.many"}).content.decode()
    assert "OTHER" not in filtered
    assert "Page 1 of 2" in filtered
    assert client.get(url, {"action": "test.many", "page": 2}).status_code == 200


def test_site_log_is_for_staff(client):
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED, details={"username": "SITEWIDE"})
    url = reverse("site_audit")
    assert client.get(url).status_code == 302  # anonymous: to the sign-in page
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    client.force_login(UserFactory(is_staff=True))
    response = client.get(url)
    assert response.status_code == 200
    assert "SITEWIDE" in response.content.decode()


def test_fields_are_escaped_on_the_page(client, project_admin):
    project, admin = project_admin
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    audit_record(actor=admin, action="test.xss", project=project, details={"name": payload, payload: "key"})
    body = client.get(reverse("project_audit", args=[project.pk])).content.decode()
    assert "<script>alert(1)" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
