"""The annotator's day: sign in, judge with the keyboard, skip, lose a lease, find a draft after a reload.

Against the gunicorn server of tests/journeys/conftest.py. Accessibility (axe-core WCAG A/AA, Tab
order) is checked on each kind of annotate page; the screenshots are the docs' annotate pictures.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from annotation.models import Assignment, AssignmentStatus, Judgment
from core.models import Role
from tests.browser import allow_console_error, screenshot, sign_in
from tests.factories import MembershipFactory, annotation_project
from tests.journeys.annotating import (
    EMPTY,
    ENTER_GUARD,
    WATCH_SUBMIT,
    current,
    press_enter_when_ready,
    visible_task,
    wait_for_task,
)
from tests.journeys.checks import assert_accessible, assert_focus_follows_reading_order, tab_order
from tests.journeys.people import renamed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_project_and_start(page, project):
    """From the home page: the project's link, then "Start annotating", with the next item pre-fetched."""
    page.get_by_role("link", name=project.name).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(project.name)
    with page.expect_response(lambda r: "/annotate/next/" in r.url):
        page.get_by_role("link", name="Start annotating").click()
    expect(visible_task(page)).to_be_visible()


def test_pairwise_with_the_keyboard_skip_an_expired_lease_and_the_empty_state(page, journey):
    project, [user] = annotation_project(kind="pairwise", items=4)
    project.name = "Helpful answers"
    project.guidelines = "Prefer the **honest** answer; then the shorter one."
    project.save()
    renamed(user, "annie")
    sign_in(page, journey, user)
    open_project_and_start(page, project)
    first = current(user)
    wait_for_task(page, first)

    # Accessibility of the page as the annotator first sees it.
    assert_accessible(page)
    stops = tab_order(page)
    assert_focus_follows_reading_order(stops)
    names = [s["name"] for s in stops]
    assert names[0] == "Skip to content"
    # The choice comes before the submit button, which comes before skip/flag.
    assert names.index("1 A is better") < names.index("Submit Enter") < names.index("Skip or flag this item s f")

    # 1: B is better, strength "better", Enter. The next item is on screen before the server answers.
    strength = page.locator("[data-strength-group]").first
    expect(strength).to_be_hidden()
    page.keyboard.press("2")
    expect(strength).to_be_visible()
    page.keyboard.press("w")
    expect(page.locator("input[name=strength][value=better]")).to_be_checked()
    screenshot(page, "annotate-pairwise")
    page.evaluate(WATCH_SUBMIT)
    with page.expect_response(lambda r: r.url.endswith(f"/{first.pk}/submit/")) as answer:
        press_enter_when_ready(page)
    assert answer.value.status == 200
    page.wait_for_function("() => window.__answeredAt !== undefined")
    assert page.evaluate("window.__swappedAt < window.__answeredAt"), "the next item waited for the server"
    expect(visible_task(page)).not_to_have_attribute("data-assignment", str(first.pk))
    judgment = Judgment.objects.get(assignment=first)
    assert judgment.payload["preferred"] == first.display_order[1]
    assert judgment.payload["strength"] == "better"
    expect(page.locator("[data-progress]").first).to_contain_text("1 done")

    # 2: skipped with a reason: s opens the skip form, Space picks the first reason, Enter sends it.
    second = current(user)
    wait_for_task(page, second)
    page.wait_for_function(ENTER_GUARD, polling=50)
    page.keyboard.press("s")
    page.keyboard.press("Space")
    with page.expect_response(lambda r: r.url.endswith(f"/{second.pk}/skip/")):
        page.keyboard.press("Enter")
    second.refresh_from_db()
    assert second.status == AssignmentStatus.SKIPPED
    assert second.reason == "I don't know enough about this topic"

    # 3: the annotator was away and the lease ran out on the server; the answer is refused, clearly.
    third = current(user)
    wait_for_task(page, third)
    allow_console_error(page, "the server responded with a status of 409")
    Assignment.objects.filter(pk=third.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page.keyboard.press("1")
    page.keyboard.press("q")
    with page.expect_response(lambda r: r.url.endswith(f"/{third.pk}/submit/")) as answer:
        press_enter_when_ready(page)
    assert answer.value.status == 409
    message = page.locator("#task-region [role=alert]").filter(has_text="Your time on this item ran out")
    expect(message).to_be_visible()
    assert not Judgment.objects.filter(assignment=third).exists()
    screenshot(page, "annotate-lease-expired")

    # n: the next item, then the last one judged a tie, then the empty state.
    page.keyboard.press("n")
    fourth = Assignment.objects.filter(annotator=user, status=AssignmentStatus.ACTIVE).exclude(pk=third.pk).get()
    wait_for_task(page, fourth)
    page.keyboard.press("3")
    with page.expect_response(lambda r: r.url.endswith(f"/{fourth.pk}/submit/")):
        press_enter_when_ready(page)
    expect(page.get_by_text(EMPTY)).to_be_visible()
    assert Judgment.objects.get(assignment=fourth).payload["outcome"] == "tie"
    assert Judgment.objects.filter(annotator=user).count() == 2
    assert_accessible(page)
    screenshot(page, "annotate-empty")


def test_rank_rate_and_critique_with_a_draft_that_survives_a_reload(page, journey):
    ranking, [user] = annotation_project(kind="ranking", items=1, config={"k": 3, "allow_ties": True})
    rating, _ = annotation_project(kind="rating", items=1)
    free_text, _ = annotation_project(kind="free_text", items=1)
    for project in (rating, free_text):
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    renamed(user, "annie")
    sign_in(page, journey, user)

    # Ranking: 3 selects the third response, k and ↑ move it to the top, t ties the last with the one above.
    open_project_and_start(page, ranking)
    assignment = current(user)
    wait_for_task(page, assignment)
    a, b, c = assignment.display_order
    page.keyboard.press("3")
    page.keyboard.press("k")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("3")
    page.keyboard.press("t")
    rows = page.locator("[data-rank-row]")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-response-id") for i in range(3)] == [str(c), str(a), str(b)]
    expect(page.locator("[data-rank-number]")).to_have_text(["1", "2", "2"])
    assert_accessible(page)
    screenshot(page, "annotate-ranking")
    with page.expect_response(lambda r: r.url.endswith("/submit/")):
        press_enter_when_ready(page)
    expect(page.get_by_text(EMPTY)).to_be_visible()
    assert Judgment.objects.get(assignment=assignment).payload["ranking"] == [[c], [a, b]]

    # Rating: each digit scores the current aspect and moves on; c comments on the current one.
    page.goto(f"{journey.url}/")
    open_project_and_start(page, rating)
    assignment = current(user)
    wait_for_task(page, assignment)
    for key in "567":
        page.keyboard.press(key)
    for _ in range(3):
        page.keyboard.press("ArrowUp")  # back to the first aspect
    page.keyboard.press("c")
    page.keyboard.type("Mostly useful.")
    page.keyboard.press("Escape")
    page.keyboard.press("3")  # scores the one aspect still without a score
    assert_accessible(page)
    stops = tab_order(page)
    assert_focus_follows_reading_order(stops)
    screenshot(page, "annotate-rating")
    with page.expect_response(lambda r: r.url.endswith("/submit/")):
        page.keyboard.press("Control+Enter")
    expect(page.get_by_text(EMPTY)).to_be_visible()
    ratings = Judgment.objects.get(assignment=assignment).payload["ratings"]
    assert {name: r["score"] for name, r in ratings.items()} == {
        "helpfulness": 5,
        "honesty": 6,
        "harmlessness": 7,
        "instruction_following": 3,
    }
    assert ratings["helpfulness"]["comment"] == "Mostly useful."

    # Free text: c writes a critique, e edits the response in place; a reload mid-edit keeps both.
    page.goto(f"{journey.url}/")
    open_project_and_start(page, free_text)
    assignment = current(user)
    wait_for_task(page, assignment)
    page.keyboard.press("c")
    page.keyboard.type("Too terse.")
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    edit = visible_task(page).locator("textarea[name=edited_text]")
    expect(edit).to_be_focused()
    page.keyboard.press("Control+End")
    page.keyboard.type(", because the question asks for one number")
    wanted = "Answer 0.0, because the question asks for one number"
    page.wait_for_function(
        "([key, text]) => (localStorage.getItem(key) || '').includes(text)",
        arg=[f"loopfeedback:draft:{assignment.pk}", wanted],
    )
    with page.expect_response(lambda r: "/annotate/next/" in r.url):
        page.reload()
    wait_for_task(page, assignment)
    expect(visible_task(page).locator("textarea[name=critique]")).to_have_value("Too terse.")
    expect(edit).to_have_value(wanted)
    assert_accessible(page)
    screenshot(page, "annotate-free-text")
    visible_task(page).locator("textarea[name=critique]").focus()
    with page.expect_response(lambda r: r.url.endswith("/submit/")):
        page.keyboard.press("Control+Enter")
    expect(page.get_by_text(EMPTY)).to_be_visible()
    payload = Judgment.objects.get(assignment=assignment).payload
    assert payload["critique"] == "Too terse."
    assert payload["edited_text"] == wanted
    assert payload["original_text"] == "Answer 0.0"
    assert page.evaluate(f"localStorage.getItem('loopfeedback:draft:{assignment.pk}')") is None
