"""Quality API: project-scoped (other projects and annotators get 404), roles, and each endpoint's effect."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import Item, Judgment
from core.models import Role
from curation.models_quality import ProjectQuality
from curation.services.quality import quality_recompute
from tests.curation.quality.judging import response_ids, three_annotator_project
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def judged(db):
    project, annotators, judgments, people = three_annotator_project()
    quality_recompute(project_id=project.pk)
    return project, annotators, judgments, people


def endpoints(project, judgment, item):
    return {
        "api-quality": [project.pk],
        "api-quality-annotators": [project.pk],
        "api-quality-items": [project.pk],
        "api-quality-review-queue": [project.pk],
        "api-quality-reviews": [project.pk, judgment.pk],
        "api-quality-adjudication": [project.pk, item.pk],
        "api-quality-gold": [project.pk],
    }


def test_annotators_and_strangers_get_404_everywhere(judged):
    project, annotators, judgments, _ = judged
    item = Item.objects.filter(project=project).first()
    stranger = MembershipFactory(role=Role.ADMIN).user  # admin of another project
    for user in (annotators[0], stranger):
        for name, args in endpoints(project, judgments[0], item).items():
            assert api(user).get(reverse(name, args=args)).status_code == 404, name


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("researcher", {"api-quality", "api-quality-items"}),
        ("reviewer", {"api-quality", "api-quality-items", "api-quality-annotators", "api-quality-review-queue",
                      "api-quality-reviews", "api-quality-adjudication"}),
        ("admin", {"api-quality", "api-quality-items", "api-quality-annotators", "api-quality-review-queue",
                   "api-quality-reviews", "api-quality-adjudication", "api-quality-gold"}),
    ],
)  # fmt: skip
def test_roles(judged, role, allowed):
    project, _, judgments, people = judged
    item = Item.objects.filter(project=project).first()
    for name, args in endpoints(project, judgments[0], item).items():
        code = api(people[role]).get(reverse(name, args=args)).status_code
        assert code in ((200, 204) if name in allowed else (404,)), name


def test_summary_hides_annotators_from_researchers(judged):
    project, annotators, _, people = judged
    staff = api(people["reviewer"]).get(reverse("api-quality", args=[project.pk])).json()
    assert annotators[2].username in staff["bias"]["per_annotator"]
    assert staff["agreement"]["all"]["percent"] == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    public = api(people["researcher"]).get(reverse("api-quality", args=[project.pk])).json()
    assert "per_annotator" not in public["bias"]
    assert "per_annotator" not in public["gold"]
    assert annotators[2].username not in str(public)


def test_item_agreement_least_agreed_first_and_filtered(judged):
    project, _, _, people = judged
    client = api(people["researcher"])
    rows = client.get(reverse("api-quality-items", args=[project.pk])).json()["results"]
    assert [round(r["agreement"], 3) for r in rows] == [0.333, 0.333, 1.0]
    below = client.get(reverse("api-quality-items", args=[project.pk]), {"below": "0.5"}).json()["results"]
    assert len(below) == 2
    assert client.get(reverse("api-quality-items", args=[project.pk]), {"below": "x"}).status_code == 400


def test_review_through_the_api(judged):
    project, _annotators, _judgments, people = judged
    client = api(people["reviewer"])
    queue = client.get(reverse("api-quality-review-queue", args=[project.pk])).json()
    assert queue["count"] == 9
    # Least agreed items first (agreement 1/3 before 1).
    assert queue["results"][0]["item_agreement"] == pytest.approx(1 / 3)
    target = queue["results"][0]["id"]
    created = client.post(
        reverse("api-quality-reviews", args=[project.pk, target]),
        {"decision": "reject", "note": "wrong"},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["decision"] == "reject"
    assert client.get(reverse("api-quality-review-queue", args=[project.pk])).json()["count"] == 8
    rejected = client.get(reverse("api-quality-review-queue", args=[project.pk]), {"state": "reject"}).json()
    assert [r["id"] for r in rejected["results"]] == [target]
    history = client.get(reverse("api-quality-reviews", args=[project.pk, target])).json()
    assert [r["decision"] for r in history] == ["reject"]
    bad = client.post(reverse("api-quality-reviews", args=[project.pk, target]), {"decision": "maybe"}, format="json")
    assert bad.status_code == 400


def test_reviewing_your_own_judgment_is_forbidden(judged):
    project, annotators, _judgments, _ = judged
    from core.models import Membership

    Membership.objects.filter(project=project, user=annotators[0]).update(role=Role.REVIEWER)
    own = Judgment.objects.filter(project=project, annotator=annotators[0]).first()
    response = api(annotators[0]).post(
        reverse("api-quality-reviews", args=[project.pk, own.pk]), {"decision": "accept"}, format="json"
    )
    assert response.status_code == 403


def test_adjudication_and_gold_through_the_api(judged):
    project, _, _, people = judged
    item = Item.objects.filter(project=project).order_by("pk")[2]
    first = response_ids(item)[0]
    client = api(people["admin"])
    url = reverse("api-quality-adjudication", args=[project.pk, item.pk])
    assert client.get(url).status_code == 204
    assert client.post(url, {"answer": {"outcome": "preferred"}}, format="json").status_code == 400
    created = client.post(url, {"answer": {"outcome": "preferred", "preferred": first}}, format="json")
    assert created.status_code == 201
    assert client.get(url).json()["answer"] == {"outcome": "preferred", "preferred": first}

    gold = reverse("api-quality-gold", args=[project.pk])
    assert client.put(gold, {"gold_fraction": 0.1}, format="json").json() == {"gold_fraction": 0.1}
    assert client.put(gold, {"gold_fraction": 0.9}, format="json").status_code == 400
    assert ProjectQuality.objects.get(project=project).gold_fraction == 0.1
    item_url = reverse("api-quality-gold-item", args=[project.pk, item.pk])
    assert client.put(item_url, {"answer": {"outcome": "tie"}}, format="json").json()["is_gold"] is True
    assert client.delete(item_url).json() == {"item": item.pk, "is_gold": False, "gold_answer": None}
    assert api(people["reviewer"]).put(item_url, {"answer": {"outcome": "tie"}}, format="json").status_code == 404


def test_recompute_endpoint(judged, monkeypatch):
    from curation.tasks_quality import recompute_quality

    project, _, _, people = judged
    sent = []
    monkeypatch.setattr(recompute_quality, "delay", sent.append)
    assert api(people["reviewer"]).post(reverse("api-quality-recompute", args=[project.pk])).status_code == 202
    assert sent == [project.pk]
    assert api(people["researcher"]).post(reverse("api-quality-recompute", args=[project.pk])).status_code == 404


def test_annotator_reliability_rows(judged):
    project, annotators, _, people = judged
    rows = api(people["reviewer"]).get(reverse("api-quality-annotators", args=[project.pk])).json()["results"]
    assert {r["annotator"] for r in rows} == {a.username for a in annotators}
    assert all("detail" in r and "flags" in r for r in rows)
