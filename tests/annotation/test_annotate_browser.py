"""The annotator's page in a real Chromium: keyboard-only pairwise work, one item of every other kind.

Every test fails on any console error, which includes Content-Security-Policy violations (the shared
``page`` fixture of tests/browser.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, Judgment
from tests.browser import PASSWORD
from tests.factories import annotation_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Notes in the page when the task region first changes and when the submit's response arrives.
WATCH_SUBMIT = """() => {
  const region = document.getElementById("task-region");
  new MutationObserver(() => { window.__swappedAt ??= performance.now(); }).observe(region, {childList: true});
  const original = window.fetch;
  window.fetch = (...args) => original(...args).then((response) => {
    if (String(args[0]).endsWith("/submit/")) window.__answeredAt ??= performance.now();
    return response;
  });
}"""


def is_prefetch(response):
    return "/annotate/next/" in response.url


def is_submit(response):
    return response.url.endswith("/submit/") and response.request.method == "POST"


def sign_in_and_open(page, live_server, project, user):
    """Sign in through the form and land on the page, with the next item already pre-fetched."""
    page.goto(f"{live_server.url}/accounts/login/?next=/projects/{project.pk}/annotate/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_response(is_prefetch):
        page.click("button[type=submit]")
    task = page.locator("#task-region [data-task]")
    task.wait_for()
    return task


def current(user):
    return Assignment.objects.filter(annotator=user, status=AssignmentStatus.ACTIVE).order_by("pk").first()


def screenshot(page, kind):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"annotate-{kind}.png"), full_page=True)


def test_pairwise_with_the_keyboard_only(page, live_server):
    project, [user] = annotation_project(kind="pairwise", items=4)
    project.guidelines = "Prefer the **honest** answer."
    project.save()
    task = sign_in_and_open(page, live_server, project, user)
    first = current(user)
    assert task.get_attribute("data-assignment") == str(first.pk)

    page.keyboard.press("?")
    dialog = page.locator("#shortcuts")
    assert dialog.is_visible()
    assert "Strength: much better" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    page.keyboard.press("g")
    assert page.locator("#guidelines strong").inner_text() == "honest"
    page.keyboard.press("g")

    strength = page.locator("[data-strength-group]")
    assert strength.is_hidden()  # only asked once A or B is chosen
    page.keyboard.press("2")
    assert strength.is_visible()
    page.keyboard.press("w")
    screenshot(page, "pairwise")
    page.evaluate(WATCH_SUBMIT)
    # Enter is ignored for 450 ms after a task appears (no double press submits it unread); on a quiet
    # machine everything above takes less than that, and the Enter below was silently dropped.
    page.wait_for_timeout(500)
    with page.expect_response(is_submit) as submitted:
        page.keyboard.press("Enter")
    assert submitted.value.status == 200
    page.wait_for_function("() => window.__answeredAt !== undefined")
    # The pre-fetched item was on screen before the server had answered the submit.
    assert page.evaluate("window.__swappedAt < window.__answeredAt")
    judgment = Judgment.objects.get(assignment=first)
    assert judgment.payload["outcome"] == "preferred"
    assert judgment.payload["preferred"] == first.display_order[1]
    assert judgment.payload["strength"] == "better"
    assert judgment.time_spent_ms > 0
    second = current(user)
    assert page.locator("#task-region [data-task]").get_attribute("data-assignment") == str(second.pk)
    # The submit named the swapped-in item, so its answer carried the counts only, not that item again.
    assert submitted.value.request.headers.get("x-prefetched") == str(second.pk)
    assert "data-task" not in submitted.value.text()
    page.locator("[data-progress]", has_text="1 done").wait_for()

    # The second item: A, the weakest strength with Shift+1, a reason typed, Ctrl+Enter from the box.
    page.wait_for_timeout(450)  # Enter is ignored for a moment after a new item appears
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit1")
    page.keyboard.press("c")
    page.keyboard.type("A answers the question.")
    with page.expect_response(is_submit):
        page.keyboard.press("Control+Enter")
    judgment = Judgment.objects.get(assignment=second)
    assert judgment.payload["preferred"] == second.display_order[0]
    assert judgment.payload["strength"] == "slightly better"
    assert judgment.payload["reason"] == "A answers the question."
    assert Judgment.objects.filter(annotator=user).count() == 2

    # The third: skipped, with a reason, through the keyboard (s, Space on the first reason, Enter).
    third = current(user)
    page.wait_for_function(
        "id => document.querySelector('#task-region [data-task]').dataset.assignment === id", arg=str(third.pk)
    )
    page.wait_for_timeout(450)
    page.keyboard.press("s")
    page.keyboard.press("Space")
    with page.expect_response(lambda r: r.url.endswith("/skip/")):
        page.keyboard.press("Enter")
    third.refresh_from_db()
    assert third.status == AssignmentStatus.SKIPPED
    assert third.reason == "I don't know enough about this topic"

    # The fourth: its time runs out on screen, then n asks for the next (there is none).
    fourth = current(user)
    page.wait_for_function(
        "id => document.querySelector('#task-region [data-task]').dataset.assignment === id", arg=str(fourth.pk)
    )
    Assignment.objects.filter(pk=fourth.pk).update(expires_at=timezone.now() + timedelta(seconds=2))
    page.reload()
    page.get_by_text("Your time on this item ran out").wait_for()
    assert page.locator("[data-task-form]").is_hidden()
    page.keyboard.press("n")
    page.get_by_text("Nothing left for you in this project — thanks!").wait_for()
    assert Judgment.objects.filter(annotator=user).count() == 2


def test_a_prefetched_item_whose_lease_ran_out_is_replaced_by_the_servers_next(page, live_server):
    project, [user] = annotation_project(kind="pairwise", items=3)
    sign_in_and_open(page, live_server, project, user)
    first = current(user)
    prefetched = Assignment.objects.get(annotator=user, status=AssignmentStatus.ACTIVE, pk__gt=first.pk)
    # The page still believes it has minutes on the pre-fetched lease; the server knows it is gone.
    Assignment.objects.filter(pk=prefetched.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page.keyboard.press("2")
    page.keyboard.press("w")
    page.wait_for_timeout(500)  # past the Enter guard of a newly shown task
    with page.expect_response(is_submit) as submitted:
        page.keyboard.press("Enter")
    assert submitted.value.request.headers.get("x-prefetched") == str(prefetched.pk)
    assert Judgment.objects.filter(assignment=first).exists()
    third = current(user)
    assert third.pk not in (first.pk, prefetched.pk)
    page.wait_for_function(
        "id => document.querySelector('#task-region [data-task]').dataset.assignment === id", arg=str(third.pk)
    )
    assert "no longer yours" in page.locator("[data-announce]").inner_text()


def test_ranking_reordered_with_keys_and_buttons(page, live_server):
    project, [user] = annotation_project(kind="ranking", items=1, config={"k": 3, "allow_ties": True})
    sign_in_and_open(page, live_server, project, user)
    assignment = current(user)
    a, b, c = assignment.display_order
    page.keyboard.press("3")  # select C
    page.keyboard.press("k")
    page.keyboard.press("ArrowUp")  # C is first
    page.locator("[data-rank-row]").nth(2).get_by_role("button", name="Move up").click()  # B above A
    page.keyboard.press("3")  # select A, now third
    page.keyboard.press("t")  # tie A with B
    rows = page.locator("[data-rank-row]")
    assert [rows.nth(i).get_attribute("data-response-id") for i in range(3)] == [str(c), str(b), str(a)]
    assert page.locator("[data-rank-number]").all_inner_texts() == ["1", "2", "2"]
    screenshot(page, "ranking")
    with page.expect_response(is_submit):
        page.get_by_role("button", name="Submit").click()
    page.get_by_text("Nothing left for you in this project — thanks!").wait_for()
    assert Judgment.objects.get(assignment=assignment).payload["ranking"] == [[c], [b, a]]


def test_rating_scores_with_number_keys(page, live_server):
    project, [user] = annotation_project(kind="rating", items=1)
    sign_in_and_open(page, live_server, project, user)
    assignment = current(user)
    for key in "567":  # each digit scores the current aspect and moves to the next
        page.keyboard.press(key)
    for _ in range(3):
        page.keyboard.press("ArrowUp")  # back to the first aspect
    page.keyboard.press("c")
    page.keyboard.type("Mostly useful.")
    page.keyboard.press("Escape")
    page.keyboard.press("3")  # the first aspect still without a score
    screenshot(page, "rating")
    with page.expect_response(is_submit):
        page.get_by_role("button", name="Submit").click()
    page.get_by_text("Nothing left for you").wait_for()
    ratings = Judgment.objects.get(assignment=assignment).payload["ratings"]
    assert {name: r["score"] for name, r in ratings.items()} == {
        "helpfulness": 5,
        "honesty": 6,
        "harmlessness": 7,
        "instruction_following": 3,
    }
    assert ratings["helpfulness"]["comment"] == "Mostly useful."


def test_free_text_critique_and_edit_with_a_draft_that_survives_a_reload(page, live_server):
    project, [user] = annotation_project(kind="free_text", items=1)
    sign_in_and_open(page, live_server, project, user)
    assignment = current(user)
    page.keyboard.press("c")
    page.keyboard.type("Too terse.")
    edit = page.locator("textarea[name=edited_text]")
    assert edit.input_value() == "Answer 0.0"
    edit.fill("Answer 0.0, because the question asks for one number.")
    page.wait_for_timeout(400)  # drafts are saved a moment after typing stops
    with page.expect_response(is_prefetch):
        page.reload()
    assert page.locator("textarea[name=critique]").input_value() == "Too terse."
    assert edit.input_value() == "Answer 0.0, because the question asks for one number."
    screenshot(page, "free_text")
    page.locator("textarea[name=critique]").focus()
    with page.expect_response(is_submit):
        page.keyboard.press("Control+Enter")
    page.get_by_text("Nothing left for you").wait_for()
    payload = Judgment.objects.get(assignment=assignment).payload
    assert payload["critique"] == "Too terse."
    assert payload["edited_text"] == "Answer 0.0, because the question asks for one number."
    assert payload["original_text"] == "Answer 0.0"
    assert page.evaluate(f"localStorage.getItem('loopfeedback:draft:{assignment.pk}')") is None
