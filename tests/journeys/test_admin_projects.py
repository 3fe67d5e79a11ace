"""The admin sets up: a project of each kind, members, a refused import, then a good one to completion."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from annotation.models import Item
from core.models import Membership, Project, Role
from tests.browser import screenshot, sign_in
from tests.factories import UserFactory
from tests.journeys.checks import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KINDS = [
    ("pairwise", "Helpful answers", {}),
    ("ranking", "Rank four drafts", {"#id_k": "4"}),
    ("rating", "Rate support replies", {}),
    ("free_text", "Critique and fix", {}),
]
GOOD = [
    {"prompt": "What is the boiling point of water at sea level?", "responses": ["100 °C.", "About 90 °C."]},
    {"prompt": "Name a prime number above 10.", "responses": ["11", "12"]},
    {"prompt": [{"role": "user", "content": "Summarise: the cat sat."}], "responses": ["A cat sat.", "Dogs."]},
]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def upload(page, name: str, data: bytes):
    page.get_by_role("link", name="Import a file").click()
    page.get_by_label("File", exact=True).set_input_files(
        {"name": name, "mimeType": "application/jsonl", "buffer": data}
    )
    page.locator("#import-upload button[type=submit]").click()


def test_admin_creates_projects_adds_members_and_imports(page, journey):
    admin = UserFactory(username="ada", is_staff=True)
    annotator = UserFactory(username="annie")
    researcher = UserFactory(username="rhea")
    sign_in(page, journey, admin)

    for kind, name, extra in KINDS:
        page.goto(f"{journey.url}/")
        page.get_by_role("link", name="New project").click()
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Task kind").select_option(kind)
        for selector, value in extra.items():
            page.fill(selector, value)
        if kind == "pairwise":
            page.get_by_label("Guidelines").fill("Prefer the **correct** answer; then the shorter one.")
            assert_accessible(page)
            screenshot(page, "project-create")
        # Only the options of the chosen kind are shown (manage.js).
        expect(page.locator(f"fieldset[data-kind={kind}]")).to_be_visible()
        expect(page.locator("fieldset[data-kind]:visible")).to_have_count(1)
        page.get_by_role("button", name="Create project").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        expect(page.locator(".messages")).to_contain_text(f"Project “{name}” created")
    projects = {p.task_kind: p for p in Project.objects.all()}
    assert set(projects) == {kind for kind, _, _ in KINDS}
    assert projects["ranking"].task_config["k"] == 4
    assert len(projects["rating"].task_config["aspects"]) == 4
    pairwise = projects["pairwise"]

    # Members: the annotator and the researcher join the pairwise project.
    page.goto(f"{journey.url}/projects/{pairwise.pk}/")
    page.get_by_role("link", name="Manage members").click()
    for user, role in ((annotator, "annotator"), (researcher, "researcher")):
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Role", exact=True).select_option(role)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.locator(".messages")).to_contain_text(f"{user} is now {role} in this project.")
    rows = page.locator("table.members tbody tr")
    expect(rows).to_have_count(3)
    assert set(Membership.objects.filter(project=pairwise).values_list("user__username", "role")) == {
        ("ada", Role.ADMIN),
        ("annie", Role.ANNOTATOR),
        ("rhea", Role.RESEARCHER),
    }
    assert_accessible(page)
    screenshot(page, "members")

    # A file with a mistake on line 2: the job fails, says where and why, and nothing is imported.
    page.goto(f"{journey.url}/projects/{pairwise.pk}/")
    page.get_by_role("link", name="Import items").click()
    bad = [GOOD[0], {"prompt": "Only one answer?", "responses": ["just this one"]}, GOOD[2]]
    upload(page, "with-a-mistake.jsonl", jsonl(bad))
    expect(page.get_by_role("heading", name="Failed: nothing was imported")).to_be_visible()
    error_rows = page.locator("table.import-errors tbody tr")
    expect(error_rows).to_have_count(1)
    expect(error_rows.first.locator("td.where")).to_have_text("line 2")
    expect(error_rows.first).to_contain_text("responses")
    assert Item.objects.filter(project=pairwise).count() == 0
    assert_accessible(page)
    screenshot(page, "import-error")

    # The corrected file: the job page polls its progress until the summary.
    page.get_by_role("link", name="Upload a corrected file").click()
    assert_accessible(page)
    page.get_by_label("File", exact=True).set_input_files(
        {"name": "good.jsonl", "mimeType": "application/jsonl", "buffer": jsonl(GOOD)}
    )
    page.locator("#import-upload button[type=submit]").click()
    expect(page.locator("#import-status progress")).to_be_attached()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible()
    done = page.locator("#import-status progress[aria-label=Done]")
    expect(done).to_have_attribute("value", "1")
    expect(done).to_have_attribute("max", "1")
    expect(page.locator("dl.summary dt:text-is('Items created') + dd")).to_have_text("3")
    assert Item.objects.filter(project=pairwise).count() == 3
    assert_accessible(page)
    screenshot(page, "import-done")

    page.get_by_role("link", name="Back to the project").click()
    expect(page.locator("table.counts tbody td").first).to_have_text("3")
    assert_accessible(page)
    screenshot(page, "project")
