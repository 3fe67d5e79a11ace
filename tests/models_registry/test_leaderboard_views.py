"""The leaderboard page and API on real judgments made through the queue."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from annotation.models import ItemResponse, Response, Source
from annotation.services.projects import item_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Role
from models_registry.selectors_leaderboard import leaderboard_battles, response_label
from tests.factories import MembershipFactory, UserFactory, annotation_project

pytestmark = pytest.mark.django_db

# The API's URLs under /api/v1/ next to the whole site (harmless once config.urls includes them too).

EMPTY = "No battles yet: judgments between responses of two different models appear here."


def labelled_item(project, n, first, second):
    """A pairwise item whose two responses come from the checkpoints ``first`` and ``second`` (None: imported)."""
    item = item_create(project=project, prompt=f"Battle {n}?", responses=[f"A{n}", f"B{n}"], priority=100.0 - n)
    for label, link in zip((first, second), ItemResponse.objects.filter(item=item).order_by("position"), strict=True):
        if label is not None:
            Response.objects.filter(pk=link.response_id).update(
                source=Source.GENERATED, source_detail={"checkpoint": label, "checkpoint_id": 1}
            )
    return item


def judge_all(project, annotator, verdicts):
    """Claim every item in turn and submit the verdict for it: 'first', 'second', 'tie' or 'both_bad'."""
    for _ in verdicts:
        assignment = assignment_claim_next(annotator=annotator, project=project).assignment
        first, second = ItemResponse.objects.filter(item=assignment.item).order_by("position")
        verdict = verdicts[assignment.item_id]
        if verdict in ("tie", "both_bad"):
            payload = {"outcome": verdict}
        else:
            winner = first if verdict == "first" else second
            payload = {"outcome": "preferred", "preferred": winner.response_id, "strength": "better"}
        judgment_submit(
            annotator=annotator,
            project=project,
            assignment_id=assignment.pk,
            payload=payload,
            client_key=uuid.uuid4().hex,
            time_spent_ms=1000,
        )


@pytest.fixture
def world():
    project, (annotator,) = annotation_project(items=0)
    plan = [
        ("policy-v2", "policy-v1", "first"),
        ("policy-v1", "policy-v2", "second"),
        ("policy-v2", "policy-v1", "second"),
        ("policy-v2", "policy-v1", "tie"),
        ("policy-v1", None, "tie"),  # against an imported response
        ("policy-v1", "policy-v1", "first"),  # the same model on both sides: no battle
        ("policy-v2", "policy-v1", "both_bad"),  # no winner, no tie: no battle
    ]
    verdicts = {labelled_item(project, n, a, b).pk: verdict for n, (a, b, verdict) in enumerate(plan)}
    judge_all(project, annotator, verdicts)
    members = {role: MembershipFactory(project=project, role=role).user for role in Role if role != Role.ANNOTATOR}
    members[Role.ANNOTATOR] = annotator
    return project, members


def page_url(project):
    return reverse("models_registry:leaderboard", args=[project.pk])


def test_battles_come_from_judgments_between_different_models(world):
    project, _ = world
    battles = leaderboard_battles(project=project)
    assert len(battles) == 5
    assert sorted(b.outcome for b in battles) == ["a", "b", "b", "tie", "tie"]
    assert {frozenset((b.a, b.b)) for b in battles} == {
        frozenset(("policy-v2", "policy-v1")),
        frozenset(("policy-v1", "imported")),
    }


def test_labels_fall_back_to_the_source():
    assert response_label(source="generated", source_detail={"checkpoint": "dpo 3"}) == "dpo 3"
    assert response_label(source="imported", source_detail={}) == "imported"
    assert response_label(source="manual", source_detail={"checkpoint": ""}) == "human edit"


def test_page_shows_table_and_chart(client, world):
    project, members = world
    client.force_login(members[Role.RESEARCHER])
    response = client.get(page_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-leaderboard"' in html
    assert 'id="leaderboard-data"' in html
    assert "js/leaderboard.js" in html
    assert "chart.umd.min.js" in html
    for model in ("policy-v2", "policy-v1", "imported"):
        assert model in html
    assert "2 / 1 / 1" in html  # policy-v2: two wins, one tie, one loss
    assert "1 / 2 / 2" in html  # policy-v1
    assert "style=" not in html.split("<main", 1)[-1]
    assert EMPTY not in html
    standings = response.context["chart_data"]
    assert standings[0]["model"] == "policy-v2"
    assert {row["model"]: row["battles"] for row in standings} == {"policy-v2": 4, "policy-v1": 5, "imported": 1}
    for row in standings:
        assert row["ci_low"] <= row["rating"] <= row["ci_high"]


def test_empty_state(client):
    project, _ = annotation_project(items=2)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    client.force_login(admin)
    html = client.get(page_url(project)).content.decode()
    assert EMPTY in html
    assert "chart-leaderboard" not in html


@pytest.mark.parametrize("role", [Role.ADMIN, Role.RESEARCHER, Role.REVIEWER])
def test_admins_researchers_and_reviewers_see_it(client, world, role):
    project, members = world
    client.force_login(members[role])
    assert client.get(page_url(project)).status_code == 200


def test_annotators_and_other_projects_get_404(client, world):
    project, members = world
    client.force_login(members[Role.ANNOTATOR])
    assert client.get(page_url(project)).status_code == 404
    other, _ = annotation_project(items=1)
    outsider = MembershipFactory(project=other, role=Role.ADMIN).user
    client.force_login(outsider)
    assert client.get(page_url(project)).status_code == 404
    client.logout()
    assert client.get(page_url(project)).status_code == 302


def test_checkpoints_page_links_to_the_leaderboard(client, world):
    project, members = world
    client.force_login(members[Role.ADMIN])
    html = client.get(reverse("models_registry:checkpoint_list", args=[project.pk])).content.decode()
    assert page_url(project) in html


def test_api_returns_the_standings(client, world):
    project, members = world
    client.force_login(members[Role.REVIEWER])
    response = client.get(reverse("api-leaderboard", args=[project.pk]))
    assert response.status_code == 200
    body = response.json()
    assert body["project"] == project.pk
    assert body["scale"] == "elo"
    rows = {row["model"]: row for row in body["standings"]}
    assert set(rows) == {"policy-v2", "policy-v1", "imported"}
    assert (rows["policy-v2"]["wins"], rows["policy-v2"]["ties"], rows["policy-v2"]["losses"]) == (2, 1, 1)
    assert rows["policy-v2"]["rank"] == 1
    assert sum(row["rating"] for row in rows.values()) / 3 == pytest.approx(1000, abs=0.5)


def test_api_refuses_annotators_outsiders_and_anonymous(client, world):
    project, members = world
    url = reverse("api-leaderboard", args=[project.pk])
    client.force_login(members[Role.ANNOTATOR])
    assert client.get(url).status_code == 404
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code in (401, 403)
