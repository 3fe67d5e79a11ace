"""REST API: token auth, project scoping by guessed ids, the annotator flow, filters and schema."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Assignment, Item, Judgment
from core.models import Membership, Role
from tests.factories import MembershipFactory, annotation_project

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def two_projects():
    mine, [me] = annotation_project(items=3, overlap=2)
    theirs, [them] = annotation_project(items=3, overlap=2)
    return mine, me, theirs, them


def claim(client, project):
    return client.post(reverse("api-claim", args=[project.pk]))


def submit(client, project, assignment_id, payload, key=None, name="api-submit"):
    return client.post(
        reverse(name, args=[project.pk, assignment_id]),
        {"payload": payload, "client_key": key or uuid.uuid4().hex, "time_spent_ms": 900},
        format="json",
    )


def test_anonymous_requests_are_refused():
    project, _ = annotation_project(items=1)
    for url in (
        reverse("api-projects"),
        reverse("api-project", args=[project.pk]),
        reverse("api-claim", args=[project.pk]),
    ):
        assert APIClient().get(url).status_code in (401, 403)


def test_token_auth_lists_only_my_projects(two_projects):
    mine, me, _, _ = two_projects
    body = api_for(me).get(reverse("api-projects")).json()
    assert [p["id"] for p in body["results"]] == [mine.pk]
    assert body["results"][0]["role"] == "annotator"
    assert body["count"] == 1


def test_guessing_ids_of_another_project_gives_404_everywhere(two_projects):
    mine, _, theirs, them = two_projects
    admin = Membership.objects.get(project=mine, role=Role.ADMIN).user
    client = api_for(admin)
    their_item = Item.objects.filter(project=theirs).first()
    their_lease = claim(api_for(them), theirs).json()
    submit(api_for(them), theirs, their_lease["id"], {"outcome": "tie"})
    urls = [
        reverse("api-project", args=[theirs.pk]),
        reverse("api-items", args=[theirs.pk]),
        reverse("api-item", args=[theirs.pk, their_item.pk]),
        reverse("api-item", args=[mine.pk, their_item.pk]),  # my project, their item id
        reverse("api-judgments", args=[theirs.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Question" not in response.content.decode()
    for name in ("api-submit", "api-skip", "api-flag"):
        for project in (theirs, mine):
            url = reverse(name, args=[project.pk, their_lease["id"]])
            response = client.post(
                url,
                {"payload": {"outcome": "tie"}, "client_key": "x", "time_spent_ms": 1, "reason": "r"},
                format="json",
            )
            assert response.status_code == 404, url
    assert Judgment.objects.filter(project=theirs).count() == 1


def test_annotator_flow_claim_submit_idempotent_and_skip():
    project, [user] = annotation_project(items=2, overlap=1)
    client = api_for(user)
    lease = claim(client, project).json()
    assert [r["label"] for r in lease["responses"]] == ["A", "B"]
    assert all(r["source"] is None for r in lease["responses"])  # blinded
    assert lease["task_kind"] == "pairwise"
    payload = {"outcome": "preferred", "preferred": lease["responses"][0]["id"], "strength": "better"}
    first = submit(client, project, lease["id"], payload, key="abc")
    again = submit(client, project, lease["id"], payload, key="abc")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["payload"]["rejected"] == lease["responses"][1]["id"]
    nxt = claim(client, project).json()
    skipped = client.post(reverse("api-skip", args=[project.pk, nxt["id"]]), {"reason": "not English"}, format="json")
    assert skipped.json() == {"id": nxt["id"], "status": "skipped", "reason": "not English"}
    assert claim(client, project).status_code == 204


def test_invalid_payload_names_the_field():
    project, [user] = annotation_project(items=1)
    client = api_for(user)
    lease = claim(client, project).json()
    response = submit(client, project, lease["id"], {"outcome": "preferred", "preferred": lease["responses"][0]["id"]})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "strength", "message": "choose one of: slightly better, better, much better"}
    ]


def test_expired_lease_is_a_409_with_a_clear_message():
    project, [user] = annotation_project(items=1)
    client = api_for(user)
    lease = claim(client, project).json()
    Assignment.objects.filter(pk=lease["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = submit(client, project, lease["id"], {"outcome": "tie"})
    assert response.status_code == 409
    assert response.json()["code"] == "lease_expired"
    assert "ran out" in response.json()["detail"]


def test_annotators_read_only_their_own_judgments_and_no_items():
    project, [a1, a2] = annotation_project(items=2, overlap=2, annotators=2)
    for user in (a1, a2):
        client = api_for(user)
        lease = claim(client, project).json()
        submit(client, project, lease["id"], {"outcome": "tie"})
    own = api_for(a1).get(reverse("api-judgments", args=[project.pk])).json()
    assert [j["annotator"] for j in own["results"]] == [a1.pk]
    assert api_for(a1).get(reverse("api-items", args=[project.pk])).status_code == 404
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    everything = api_for(researcher).get(reverse("api-judgments", args=[project.pk])).json()
    assert everything["count"] == 2
    filtered = api_for(researcher).get(reverse("api-judgments", args=[project.pk]), {"annotator": a2.pk}).json()
    assert [j["annotator"] for j in filtered["results"]] == [a2.pk]


def test_researchers_cannot_annotate_through_the_api():
    project, _ = annotation_project(items=1)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    response = claim(api_for(researcher), project)
    assert response.status_code == 404
    assert response.json()["code"] == "not_a_member"


def test_filters_are_an_allowlist():
    project, _ = annotation_project(items=3)
    admin = Membership.objects.get(project=project, role=Role.ADMIN).user
    client = api_for(admin)
    url = reverse("api-items", args=[project.pk])
    assert client.get(url, {"ordering": "prompt__project__created_by__password"}).status_code == 400
    # Unknown parameters are ignored, never turned into lookups.
    assert client.get(url, {"prompt__project__created_by__password__startswith": "pbkdf2"}).json()["count"] == 3
    assert [i["priority"] for i in client.get(url, {"ordering": "-priority"}).json()["results"]] == [2.0, 1.0, 0.0]
    judgments = reverse("api-judgments", args=[project.pk])
    assert client.get(judgments, {"annotator": "1 OR 1=1"}).status_code == 400
    assert client.get(judgments, {"created_after": "yesterday"}).status_code == 400


def test_lists_are_paginated():
    project, _ = annotation_project(items=60)
    admin = Membership.objects.get(project=project, role=Role.ADMIN).user
    body = api_for(admin).get(reverse("api-items", args=[project.pk])).json()
    assert body["count"] == 60
    assert len(body["results"]) == 50
    assert body["next"]


def test_openapi_schema_validates(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/projects/{project_id}/queue/claim/" in text


def submit_next(client, project, assignment_id, payload, key=None):
    return submit(client, project, assignment_id, payload, key, name="api-submit-next")


def test_submit_next_records_the_answer_and_leases_the_next_item_in_one_request():
    project, [user] = annotation_project(items=3, overlap=1)
    client = api_for(user)
    lease = claim(client, project).json()
    payload = {"outcome": "preferred", "preferred": lease["responses"][1]["id"], "strength": "much better"}
    first = submit_next(client, project, lease["id"], payload, key="k1")
    assert first.status_code == 201
    body = first.json()
    assert body["judgment"]["payload"]["preferred"] == lease["responses"][1]["id"]
    assert body["judgment"]["item"] == lease["item"]
    second = body["next"]
    assert second["item"] != lease["item"]
    assert [r["label"] for r in second["responses"]] == ["A", "B"]
    assert Assignment.objects.get(pk=second["id"]).status == "active"

    # A resend (double click, retry after a timeout) records nothing and leases nothing new.
    again = submit_next(client, project, lease["id"], payload, key="k1")
    assert again.status_code == 200
    assert again.json()["judgment"]["id"] == body["judgment"]["id"]
    assert again.json()["next"]["id"] == second["id"]
    assert Judgment.objects.filter(project=project).count() == 1
    assert Assignment.objects.filter(project=project, annotator=user, status="active").count() == 1

    # A refused answer claims nothing; the lease stays live.
    bad = submit_next(client, project, second["id"], {"outcome": "preferred"})
    assert bad.status_code == 400
    assert Assignment.objects.filter(project=project, annotator=user).count() == 2

    third = submit_next(client, project, second["id"], {"outcome": "tie"}).json()["next"]
    last = submit_next(client, project, third["id"], {"outcome": "tie"})
    assert last.status_code == 201
    assert last.json()["next"] is None  # the queue is empty for this annotator
    assert Judgment.objects.filter(project=project, annotator=user).count() == 3


def test_submit_next_on_someone_elses_lease_is_a_404_and_claims_nothing(two_projects):
    mine, me, theirs, them = two_projects
    their_lease = claim(api_for(them), theirs).json()
    for project in (theirs, mine):
        response = submit_next(api_for(me), project, their_lease["id"], {"outcome": "tie"})
        assert response.status_code == 404
    assert not Assignment.objects.filter(annotator=me).exists()
    assert not Judgment.objects.filter(project=theirs).exists()


@pytest.mark.parametrize("blind", [True, False])
def test_claim_and_submit_bodies_are_exactly_what_the_documented_serializers_give(blind):
    """The hot path builds its JSON by hand (api._lease_data, api._judgment_data); the schema is the serializers'."""
    from annotation.api import AssignmentSerializer, JudgmentSerializer
    from annotation.selectors import assignment_view

    project, [user] = annotation_project(items=2, overlap=1)
    project.blind_sources = blind
    project.save(update_fields=["blind_sources"])
    client = api_for(user)
    lease = claim(client, project).json()
    assignment = Assignment.objects.select_related("project", "item").get(pk=lease["id"])
    view = assignment_view(assignment=assignment)
    expected = AssignmentSerializer(view).data
    assert {**lease, "seconds_left": expected["seconds_left"]} == expected
    assert list(lease) == list(expected)
    assert (lease["responses"][0]["source"] is None) is blind

    payload = {"outcome": "preferred", "preferred": lease["responses"][0]["id"], "strength": "better"}
    body = submit_next(client, project, lease["id"], payload, key="same").json()
    judgment = Judgment.objects.get(pk=body["judgment"]["id"])
    assert body["judgment"] == JudgmentSerializer(judgment).data
    assert list(body["judgment"]) == list(JudgmentSerializer(judgment).data)
    again = submit(client, project, lease["id"], payload, key="same").json()  # the duplicate path
    assert again == JudgmentSerializer(judgment).data
    nxt = Assignment.objects.select_related("project", "item").get(pk=body["next"]["id"])
    expected_next = AssignmentSerializer(assignment_view(assignment=nxt)).data
    assert {**body["next"], "seconds_left": expected_next["seconds_left"]} == expected_next


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": {"outcome": "tie"}, "client_key": "k", "time_spent_ms": -1}, "time_spent_ms"),
        ({"payload": {"outcome": "tie"}, "client_key": "k", "time_spent_ms": True}, "time_spent_ms"),
        ({"payload": {"outcome": "tie"}, "client_key": "k" * 65, "time_spent_ms": 5}, "client_key"),
        ({"payload": {"outcome": "tie"}, "client_key": "   ", "time_spent_ms": 5}, "client_key"),
        ({"payload": {"outcome": "tie"}, "client_key": "a\x00b", "time_spent_ms": 5}, "client_key"),
        ({"payload": None, "client_key": "k", "time_spent_ms": 5}, "payload"),
        ({"client_key": "k", "time_spent_ms": 5}, "payload"),
    ],
)
def test_odd_submit_bodies_get_the_serializers_errors_and_record_nothing(body, field):
    project, [user] = annotation_project(items=1)
    client = api_for(user)
    lease = claim(client, project).json()
    response = client.post(reverse("api-submit-next", args=[project.pk, lease["id"]]), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Judgment.objects.filter(project=project).exists()


def test_submit_keys_and_times_the_serializer_would_clean_are_cleaned_the_same_way():
    """Padded keys and numeric strings skip the fast path and are recorded as the serializer reads them."""
    project, [user] = annotation_project(items=1)
    client = api_for(user)
    lease = claim(client, project).json()
    body = {"payload": {"outcome": "tie"}, "client_key": "  padded-ключ ", "time_spent_ms": "1200"}
    response = client.post(reverse("api-submit", args=[project.pk, lease["id"]]), body, format="json")
    assert response.status_code == 201
    judgment = Judgment.objects.get(pk=response.json()["id"])
    assert (judgment.client_key, judgment.time_spent_ms) == ("padded-ключ", 1200)
