"""Quality pages: who sees what, the dashboard's states, review decisions, adjudication, gold."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from annotation.models import Item, Judgment
from core.models import Role
from curation.models_quality import Adjudication, ProjectQuality, Review
from curation.services.quality import quality_recompute
from tests.curation.quality.judging import response_ids, three_annotator_project
from tests.factories import MembershipFactory, annotation_project

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"quality:{name}", args=args)


@pytest.fixture
def judged(db):
    return three_annotator_project()


@pytest.mark.parametrize(
    ("who", "dashboard", "review", "gold"),
    [
        ("annotator", 404, 404, 404),
        ("researcher", 200, 404, 404),
        ("reviewer", 200, 200, 404),
        ("admin", 200, 200, 200),
        ("stranger", 404, 404, 404),
    ],
)
def test_who_sees_which_page(client, judged, who, dashboard, review, gold):
    project, annotators, _, people = judged
    user = {"annotator": annotators[0], "stranger": MembershipFactory(role=Role.ADMIN).user, **people}[who]
    client.force_login(user)
    assert client.get(url("dashboard", project.pk)).status_code == dashboard
    assert client.get(url("review_queue", project.pk)).status_code == review
    assert client.get(url("gold", project.pk)).status_code == gold


def test_dashboard_empty_state(client):
    project, _ = annotation_project(kind="pairwise", items=2)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    client.force_login(admin)
    page = client.get(url("dashboard", project.pk)).content.decode()
    assert "No judgments yet" in page
    assert "Raise the overlap to measure agreement" in page  # overlap 1


def test_dashboard_shows_statistics_and_annotators_to_staff_only(client, judged):
    project, annotators, _, people = judged
    quality_recompute(project_id=project.pk)
    client.force_login(people["reviewer"])
    page = client.get(url("dashboard", project.pk)).content.decode()
    assert "Krippendorff" in page
    assert f'data-annotator="{annotators[2].username}"' in page
    assert 'id="quality-data"' in page
    assert "<script>" not in page.replace('<script id="quality-data" type="application/json">', "")

    client.force_login(people["researcher"])
    page = client.get(url("dashboard", project.pk)).content.decode()
    assert "Krippendorff" in page
    assert annotators[2].username not in page  # throughput under neutral labels, no reliability table
    assert "Annotator 1" in page


def test_review_decision_without_htmx_redirects_and_with_htmx_swaps_the_card(client, judged):
    project, _, judgments, people = judged
    client.force_login(people["reviewer"])
    queue = client.get(url("review_queue", project.pk)).content.decode()
    assert f'data-judgment="{judgments[0].pk}"' in queue
    response = client.post(url("review_decide", project.pk, judgments[0].pk), {"decision": "reject", "note": "off"})
    assert response.status_code == 302
    assert Review.objects.get(judgment=judgments[0]).decision == "reject"

    response = client.post(
        url("review_decide", project.pk, judgments[1].pk), {"decision": "flag"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'data-decision="flag"' in response.content.decode()
    flagged = client.get(url("review_queue", project.pk) + "?state=flag").content.decode()
    assert f'data-judgment="{judgments[1].pk}"' in flagged

    response = client.post(
        url("review_decide", project.pk, judgments[2].pk), {"decision": "nope"}, headers={"HX-Request": "true"}
    )
    assert 'role="alert"' in response.content.decode()
    assert not Review.objects.filter(judgment=judgments[2]).exists()


def test_adjudication_form(client, judged):
    project, _, _, people = judged
    item = Item.objects.filter(project=project).order_by("pk")[1]
    client.force_login(people["reviewer"])
    page = client.get(url("item_detail", project.pk, item.pk)).content.decode()
    assert "Record the final answer" in page
    second = response_ids(item)[1]
    response = client.post(url("item_detail", project.pk, item.pk), {"outcome": f"r{second}", "note": "B is right"})
    assert response.status_code == 302
    assert Adjudication.objects.get(item=item).answer == {"outcome": "preferred", "preferred": second}
    assert "B is better" in client.get(url("item_detail", project.pk, item.pk)).content.decode()


def test_gold_pages(client, judged):
    project, _, _, people = judged
    client.force_login(people["admin"])
    response = client.post(url("gold", project.pk), {"managed": "on", "gold_fraction": "0.2"})
    assert response.status_code == 302
    assert ProjectQuality.objects.get(project=project).gold_fraction == 0.2
    item = Item.objects.filter(project=project).order_by("pk")[0]
    first = response_ids(item)[0]
    assert client.post(url("gold_item", project.pk, item.pk), {"outcome": f"r{first}"}).status_code == 302
    item.refresh_from_db()
    assert item.gold_answer == {"outcome": "preferred", "preferred": first}
    page = client.get(url("gold", project.pk)).content.decode()
    assert f'data-gold-item="{item.pk}"' in page
    assert "(3 of 3)" in page  # every annotator picked the first response
    assert client.post(url("gold_item_unmark", project.pk, item.pk)).status_code == 302
    item.refresh_from_db()
    assert not item.is_gold
    client.post(url("gold", project.pk), {"gold_fraction": "0.3"})  # not managed: back to priority order
    assert ProjectQuality.objects.get(project=project).gold_fraction is None


def test_recompute_button_enqueues(client, judged, monkeypatch):
    from curation.tasks_quality import recompute_quality

    project, _, _, people = judged
    sent = []
    monkeypatch.setattr(recompute_quality, "delay", sent.append)
    client.force_login(people["reviewer"])
    assert client.post(url("recompute", project.pk)).status_code == 302
    assert sent == [project.pk]


def test_dashboard_data_is_valid_json_for_the_charts(client, judged):
    project, _, _, people = judged
    quality_recompute(project_id=project.pk)
    client.force_login(people["admin"])
    page = client.get(url("dashboard", project.pk)).content.decode()
    start = page.index('<script id="quality-data" type="application/json">') + len(
        '<script id="quality-data" type="application/json">'
    )
    data = json.loads(page[start : page.index("</script>", start)])
    assert data["judgments"] == Judgment.objects.filter(project=project).count()
    assert sum(row["n"] for row in data["judgments_per_day"]) == 9
    names = set(Judgment.objects.filter(project=project).values_list("annotator__username", flat=True))
    assert set(data["bias"]["per_annotator"]) == names
    assert data["agreement"]["all"]["units"] == 3
