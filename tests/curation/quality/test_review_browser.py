"""The review queue and the dashboard in a real Chromium (Debian's), against the live server.

Fails on any console error, which includes Content-Security-Policy violations (the pages load Chart.js
and htmx from static files and pass their data through json_script, never inline script).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from annotation.models import Item, Judgment
from curation.models_quality import Review
from curation.services.quality import quality_recompute
from tests.browser import PASSWORD
from tests.curation.quality.judging import three_annotator_project

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def sign_in(page, live_server, user, path):
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"quality-{name}.png"), full_page=True)


def test_reviewer_rejects_and_flags_in_the_queue_then_reads_the_dashboard(page, live_server):
    project, annotators, _, people = three_annotator_project()
    quality_recompute(project_id=project.pk)
    second_item = Item.objects.filter(project=project).order_by("pk")[1]
    dissent = Judgment.objects.get(item=second_item, annotator=annotators[2])
    agreeing = Judgment.objects.filter(item=second_item).exclude(pk=dissent.pk).first()

    sign_in(page, live_server, people["reviewer"], f"/projects/{project.pk}/quality/review/")
    cards = page.locator(".review-card")
    assert cards.count() == 9
    # The least agreed items (1/3) come before the unanimous one.
    unanimous = set(
        Judgment.objects.filter(
            item__project=project, item=Item.objects.filter(project=project).order_by("pk")[0]
        ).values_list("pk", flat=True)
    )
    first_six = {int(cards.nth(n).get_attribute("data-judgment")) for n in range(6)}
    assert not first_six & unanimous

    card = page.locator(f"#judgment-{dissent.pk}")
    assert "Their answer:" in card.inner_text()
    card.locator("textarea[name=note]").fill("Answers the wrong question.")
    with page.expect_response(lambda r: r.url.endswith(f"/review/{dissent.pk}/") and r.request.method == "POST"):
        card.get_by_role("button", name="Reject").click()
    page.locator(f'#judgment-{dissent.pk}[data-decision="reject"]').wait_for()
    assert page.locator(f"#judgment-{dissent.pk} [data-decision-badge]").inner_text() == "reject"
    review = Review.objects.get(judgment=dissent)
    assert (review.decision, review.note, review.reviewer_id) == (
        "reject",
        "Answers the wrong question.",
        people["reviewer"].pk,
    )

    other = page.locator(f"#judgment-{agreeing.pk}")
    other.get_by_role("button", name="Flag").click()
    page.locator(f'#judgment-{agreeing.pk}[data-decision="flag"]').wait_for()
    assert Review.objects.get(judgment=agreeing).decision == "flag"
    screenshot(page, "review")

    page.get_by_role("link", name="Rejected (1)").click()
    page.locator(f"#judgment-{dissent.pk}").wait_for()
    assert page.locator(".review-card").count() == 1
    # Changing one's mind is a new decision: accept it from the rejected tab.
    with page.expect_response(lambda r: r.url.endswith(f"/review/{dissent.pk}/")):
        page.locator(f"#judgment-{dissent.pk}").get_by_role("button", name="Accept").click()
    page.locator(f'#judgment-{dissent.pk}[data-decision="accept"]').wait_for()
    assert list(Review.objects.filter(judgment=dissent).order_by("pk").values_list("decision", flat=True)) == [
        "reject",
        "accept",
    ]

    quality_recompute(project_id=project.pk)
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-per-day'))")
    for chart in ("chart-throughput", "chart-agreement", "chart-bias"):
        assert page.evaluate(f"() => Boolean(Chart.getChart(document.getElementById('{chart}')))"), chart
    assert page.locator("table.annotators tbody tr").count() == 3
    screenshot(page, "dashboard")


def test_admin_marks_gold_and_sets_the_fraction(page, live_server):
    project, _, _, people = three_annotator_project()
    item = Item.objects.filter(project=project).order_by("pk")[0]
    sign_in(page, live_server, people["admin"], f"/projects/{project.pk}/quality/gold/")
    page.get_by_label("Serve gold at a set rate").check()
    page.get_by_label("Share of claims that serve a gold item").fill("0.1")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Gold settings saved.").wait_for()
    page.get_by_role("link", name=f"Item {item.pk}", exact=True).click()
    page.get_by_label("A is better").check()
    page.get_by_role("button", name="Make this item gold").click()
    page.locator(f'[data-gold-item="{item.pk}"]').wait_for()
    assert "3 of 3" in page.locator(f'[data-gold-item="{item.pk}"]').inner_text()
    item.refresh_from_db()
    assert item.is_gold
    page.wait_for_function("() => Boolean(Chart.getChart(document.getElementById('chart-gold')))")
    screenshot(page, "gold")
