"""Helpers for driving the annotate page: which task is on screen, when it is ready for keys."""

from __future__ import annotations

from playwright.sync_api import expect

from annotation.models import Assignment, AssignmentStatus

EMPTY = "Nothing left for you in this project — thanks!"

# Notes when the task region first changes and when the submit's answer arrives, to show that the
# next item was on screen before the server had answered.
WATCH_SUBMIT = """() => {
  window.__swappedAt = undefined; window.__answeredAt = undefined;
  const region = document.getElementById("task-region");
  new MutationObserver(() => { window.__swappedAt ??= performance.now(); }).observe(region, {childList: true});
  if (!window.__fetchWatched) {
    window.__fetchWatched = true;
    const original = window.fetch;
    window.fetch = (...args) => original(...args).then((response) => {
      if (String(args[0]).endsWith("/submit/")) window.__answeredAt ??= performance.now();
      return response;
    });
  }
}"""

# annotate.js ignores Enter for 400 ms after a task appears (no double-press submits an unread item).
# This waits until the visible task has been on screen for longer than that: a condition, not a sleep.
ENTER_GUARD = """() => {
  const task = document.querySelector("#task-region [data-task]:not([hidden])");
  if (!task) return false;
  if (window.__guardTask !== task) { window.__guardTask = task; window.__guardAt = performance.now(); return false; }
  return performance.now() - window.__guardAt > 450;
}"""


def visible_task(page):
    return page.locator("#task-region [data-task]:not([hidden])")


def wait_for_task(page, assignment):
    """The task of ``assignment`` is on screen and annotate.js has wired it (its js-only hints show)."""
    task = page.locator(f"#task-region [data-task][data-assignment='{assignment.pk}']:not([hidden])")
    expect(task.locator(".task-actions .js-only")).to_be_visible()
    return task


def current(user):
    return Assignment.objects.filter(annotator=user, status=AssignmentStatus.ACTIVE).order_by("pk").first()


def press_enter_when_ready(page):
    page.wait_for_function(ENTER_GUARD, polling=50)
    page.keyboard.press("Enter")
