"""Project set-up pages: create each kind, manage members, item counts, and who may do what."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Membership, Project, Role
from tests.factories import MembershipFactory, UserFactory, annotation_project

pytestmark = pytest.mark.django_db

BASE = {
    "name": "Helpfulness study",
    "overlap": 3,
    "lease_ttl_minutes": 10,
    "blind_sources": "on",
    "randomise_order": "on",
    "strengths": "better, much better",
    "reason": "optional",
    "k": 4,
    "critique": "optional",
    "edit": "optional",
    "aspects": "helpfulness | Helpfulness | 1 | 7\nsafety | Safety | 0 | 3",
}


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True)
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "pairwise",
            {"strengths": ["better", "much better"], "allow_tie": False, "allow_both_bad": False, "reason": "optional"},
        ),
        ("ranking", {"k": 4, "allow_ties": False}),
        ("free_text", {"critique": "optional", "edit": "optional"}),
    ],
)
def test_staff_create_a_project_of_each_kind(client, staff, kind, expected):
    response = client.post(reverse("annotation:project_create"), {**BASE, "task_kind": kind})
    assert response.status_code == 302
    project = Project.objects.get()
    assert (project.task_kind, project.task_config) == (kind, expected)
    assert (project.overlap, project.lease_ttl_seconds) == (3, 600)
    assert Membership.objects.get(project=project).role == Role.ADMIN
    assert response["Location"] == reverse("annotation:project_detail", args=[project.pk])


def test_rating_project_gets_its_aspects_and_scales(client, staff):
    client.post(reverse("annotation:project_create"), {**BASE, "task_kind": "rating", "comments": "on"})
    aspects = Project.objects.get().task_config["aspects"]
    assert [(a["name"], a["min"], a["max"]) for a in aspects] == [("helpfulness", 1, 7), ("safety", 0, 3)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task_kind": "rating", "aspects": "helpfulness | Helpfulness | 7"}, "write name | label | min | max"),
        ({"task_kind": "rating", "aspects": "helpfulness | Helpfulness | 1 | 1"}, "min &lt; max"),
        ({"task_kind": "pairwise", "strengths": ""}, "strengths"),
        ({"task_kind": "ranking", "k": 12}, "less than or equal to 10"),
        ({"task_kind": "free_text", "critique": "off", "edit": "off"}, "at least one"),
    ],
)
def test_bad_configs_are_explained_and_nothing_is_created(client, staff, changes, message):
    response = client.post(reverse("annotation:project_create"), {**BASE, **changes})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Project.objects.exists()


def test_non_staff_cannot_create_projects(client, user):
    client.force_login(user)
    assert client.post(reverse("annotation:project_create"), {**BASE, "task_kind": "pairwise"}).status_code == 302
    assert not Project.objects.exists()


def test_project_page_shows_counts_by_status_to_admins(client):
    project, [a1, a2] = annotation_project(items=3, overlap=1, annotators=2)
    lease = assignment_claim_next(annotator=a1, project=project).assignment
    judgment_submit(
        annotator=a1,
        project=project,
        assignment_id=lease.pk,
        payload={"outcome": "tie"},
        client_key="k",
        time_spent_ms=1,
    )
    assignment_claim_next(annotator=a2, project=project)
    admin = Membership.objects.get(project=project, role=Role.ADMIN).user
    client.force_login(admin)
    html = client.get(reverse("annotation:project_detail", args=[project.pk])).content.decode()
    cells = html.split("<tbody><tr>")[1].split("</tr>")[0]
    assert cells == "<td>3</td><td>1</td><td>1</td><td>1</td><td>1</td><td>1</td>"


def test_annotators_see_their_progress_but_not_the_counts(client):
    project, [annotator] = annotation_project(items=2)
    client.force_login(annotator)
    html = client.get(reverse("annotation:project_detail", args=[project.pk])).content.decode()
    assert "Start annotating" in html
    assert "Live leases" not in html
    assert "Manage members" not in html


def test_other_projects_are_not_found(client):
    project, _ = annotation_project(items=1)
    outsider = MembershipFactory(role=Role.ADMIN)
    client.force_login(outsider.user)
    for name in ("annotation:project_detail", "annotation:members"):
        assert client.get(reverse(name, args=[project.pk])).status_code == 404


def test_admin_adds_changes_and_removes_members(client):
    project, _ = annotation_project(items=1)
    admin = Membership.objects.get(project=project, role=Role.ADMIN).user
    newcomer = UserFactory(username="newcomer")
    client.force_login(admin)
    url = reverse("annotation:members", args=[project.pk])
    assert client.post(url, {"username": "newcomer", "role": "reviewer"}).status_code == 302
    membership = Membership.objects.get(project=project, user=newcomer)
    assert membership.role == Role.REVIEWER
    change = reverse("annotation:member_change", args=[project.pk, membership.pk])
    client.post(change, {"role": "researcher"})
    assert Membership.objects.get(pk=membership.pk).role == Role.RESEARCHER
    client.post(change, {"role": "remove"})
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_unknown_username_is_explained(client):
    project, _ = annotation_project(items=1)
    client.force_login(Membership.objects.get(project=project, role=Role.ADMIN).user)
    response = client.post(reverse("annotation:members", args=[project.pk]), {"username": "ghost", "role": "annotator"})
    assert "No active account with that username" in response.content.decode()


def test_the_last_admin_cannot_be_demoted(client):
    project, _ = annotation_project(items=1)
    admin_membership = Membership.objects.get(project=project, role=Role.ADMIN)
    client.force_login(admin_membership.user)
    response = client.post(
        reverse("annotation:member_change", args=[project.pk, admin_membership.pk]), {"role": "annotator"}, follow=True
    )
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.get(pk=admin_membership.pk).role == Role.ADMIN


def test_annotators_cannot_manage_members(client):
    project, [annotator] = annotation_project(items=1)
    client.force_login(annotator)
    url = reverse("annotation:members", args=[project.pk])
    assert client.post(url, {"username": annotator.username, "role": "admin"}).status_code == 404
    assert Membership.objects.get(project=project, user=annotator).role == Role.ANNOTATOR


def test_demo_seed_creates_one_project_per_kind_and_is_idempotent():
    from annotation.demo import demo_seed
    from annotation.models import Item

    owner = UserFactory()
    first = demo_seed(owner=owner)
    again = demo_seed(owner=owner)
    assert [p.pk for p in first] == [p.pk for p in again]
    assert sorted(p.task_kind for p in first) == ["free_text", "pairwise", "ranking", "rating"]
    for project in first:
        assert Item.objects.filter(project=project).count() == 8
        assert Membership.objects.get(project=project, user=owner).role == Role.ADMIN
