"""An annotator edits the URL: admin pages, staff pages and another project stay closed.

Every project page answers a 404 to someone without the role for it (the project might as well not
exist); the staff-only pages send them to the admin sign-in; the site audit log is a 403.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import allow_console_error, sign_in
from tests.factories import annotation_project

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Pages of the annotator's own project that need another role.
CLOSED_IN_OWN_PROJECT = [
    "members/",
    "imports/",
    "imports/new/",
    "snapshots/",
    "snapshots/new/",
    "runs/",
    "runs/new/",
    "runs/schedules/",
    "checkpoints/",
    "leaderboard/",
    "quality/",
    "quality/review/",
    "quality/gold/",
    "audit/",
]
# Every page of a project the annotator is not in, the annotate page and the project page included.
CLOSED_IN_OTHER_PROJECT = ["", "annotate/", *CLOSED_IN_OWN_PROJECT]


def test_an_annotator_cannot_reach_admin_pages_or_another_project(page, journey):
    project, [annotator] = annotation_project(kind="pairwise", items=2)
    other, _ = annotation_project(kind="rating", items=1)
    other.name = "Someone else's secret project"
    other.save()
    allow_console_error(page, "the server responded with a status of 404")
    allow_console_error(page, "the server responded with a status of 403")
    sign_in(page, journey, annotator)

    # Their own project: annotate, nothing else; the page offers no links to what they cannot open.
    page.goto(f"{journey.url}/projects/{project.pk}/")
    expect(page.get_by_role("link", name="Start annotating")).to_be_visible()
    for name in ("Manage members", "Import items", "Dataset snapshots", "Training runs", "Quality dashboard"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    expect(page.get_by_text(other.name)).to_have_count(0)

    answers = {}
    for base, paths in ((project, CLOSED_IN_OWN_PROJECT), (other, CLOSED_IN_OTHER_PROJECT)):
        for path in paths:
            url = f"/projects/{base.pk}/{path}"
            response = page.goto(journey.url + url)
            answers[url] = response.status
            assert other.name not in page.content(), url
    assert answers == {url: 404 for url in answers}, {url: s for url, s in answers.items() if s != 404}

    # Staff pages: the project form and Django's admin ask for a staff sign-in; the site audit log refuses.
    for url in ("/projects/new/", "/admin/", "/admin/core/user/"):
        page.goto(journey.url + url)
        assert "/admin/login/" in page.url, url
        expect(page.locator("#id_username")).to_be_visible()
    assert page.goto(f"{journey.url}/audit/").status == 403
