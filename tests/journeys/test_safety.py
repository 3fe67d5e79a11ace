"""Model output is untrusted: responses full of XSS payloads, imported by an admin, read as text.

The journey takes the payloads of the security corpus (tests/core/test_markdown.py) the way they
really arrive: in a file an admin imports through the browser. tests/security/test_xss_browser.py puts
the same corpus into every other field and page.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from core.models import Project, Role
from tests.browser import screenshot, sign_in
from tests.core.test_markdown import XSS_CORPUS
from tests.factories import MembershipFactory, UserFactory
from tests.journeys.annotating import current, press_enter_when_ready, visible_task, wait_for_task
from tests.journeys.checks import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARKER = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
PAYLOADS = [MARKER] + [p for _, p in XSS_CORPUS]
# What the annotator must see, character for character.
LITERAL = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


def test_xss_payloads_in_imported_responses_render_as_text(page, browser, journey):
    admin = UserFactory(is_staff=True)
    annotator = UserFactory()
    rows = [
        {"prompt": f"Payload {n}: {PAYLOADS[n]}", "responses": [PAYLOADS[n], PAYLOADS[(n + 1) % len(PAYLOADS)]]}
        for n in range(len(PAYLOADS))
    ]
    rows.insert(0, {"prompt": "Which is safer?", "responses": LITERAL, "priority": 10})  # served first
    dialogs: list[str] = []

    sign_in(page, journey, admin)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name", exact=True).fill("Untrusted output")
    page.get_by_role("button", name="Create project").click()
    project_url = page.url
    project = Project.objects.get(name="Untrusted output")
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    page.get_by_role("link", name="Import items").click()
    page.get_by_role("link", name="Import a file").click()
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    page.get_by_label("File", exact=True).set_input_files(
        {"name": "untrusted.jsonl", "mimeType": "application/jsonl", "buffer": data}
    )
    page.locator("#import-upload button[type=submit]").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible()
    expect(page.locator("dl.summary dt:text-is('Items created') + dd")).to_have_text(str(len(rows)))
    assert page.url.startswith(project_url)

    # The annotator reads the first item (highest priority: the file's order), then skips through a few.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    reader = context.new_page()
    problems: list[str] = []
    reader.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    reader.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    reader.on("pageerror", lambda exc: problems.append(str(exc)))
    reader.set_default_timeout(30_000)
    try:
        sign_in(reader, journey, annotator, f"/projects/{project.pk}/annotate/")
        task = visible_task(reader)
        wait_for_task(reader, current(annotator))
        expect(task.locator(".response .md")).to_have_count(2)
        texts = task.locator(".response .md").all_inner_texts()
        shown = " ".join(texts)
        for literal in LITERAL:
            assert literal in shown, f"{literal!r} is not shown as text: {texts}"
        assert task.locator(".md script, .md img, .md iframe, .md [onerror]").count() == 0
        assert_accessible(reader)
        screenshot(reader, "annotate-untrusted-output")
        for _ in range(8):
            wait_for_task(reader, lease := current(annotator))
            reader.keyboard.press("s")
            reader.keyboard.press("Space")
            press_enter_when_ready(reader)
            expect(visible_task(reader)).not_to_have_attribute("data-assignment", str(lease.pk))
            assert reader.locator(".md script, .md img, .md iframe, .md [onerror]").count() == 0
            assert reader.evaluate("() => window.__xss") is None
    finally:
        context.close()
    assert dialogs == []
    assert problems == []
