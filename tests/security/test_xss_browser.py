"""Stored XSS, end to end in Chromium (SECURITY-CASES #6, #11, #17, #19).

Every payload of the sanitiser corpus is placed where users and models write text (project name,
guidelines, usernames, prompts, responses, reasons, critiques, edits, audit-log details) and every
page that shows them is opened in a real browser. A payload that runs would open a dialog or set a
global; one that reaches the DOM but is stopped by the CSP shows up as a console violation. All
three fail the test.
"""

from __future__ import annotations

import uuid

import playwright.sync_api as playwright_sync
import pytest

from annotation.models import Item
from annotation.services.projects import annotation_project_create, item_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.audit import AuditAction, audit_record
from core.models import Role
from core.services import membership_set
from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.models import Checkpoint
from models_registry.models_jobs import GenerationJob
from tests.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.core.test_markdown import XSS_CORPUS
from tests.factories import UserFactory
from training.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each payload tries to run alert(1); this one also tries to set a global we look for.
MARKER = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
PAYLOADS = [p for _, p in XSS_CORPUS] + [MARKER]


def chunks(values, size):
    return [values[i : i + size] for i in range(0, len(values), size)]


@pytest.fixture
def poisoned(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    joined = "\n\n".join(PAYLOADS)
    admin = UserFactory(username="admin_xss", is_staff=True)
    project = annotation_project_create(
        name=(MARKER + PAYLOADS[0])[:200], created_by=admin, task_kind="pairwise", overlap=3, guidelines=joined,
        description=PAYLOADS[1],
    )  # fmt: skip
    project.blind_sources = False
    project.save()
    annotators = [UserFactory(username=f"ann{n}", first_name=MARKER[:30], display_name=MARKER[:150]) for n in range(2)]
    for user in annotators:
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    for n, group in enumerate(chunks(PAYLOADS, 10)):
        item_create(project=project, prompt=[{"role": "system", "content": group[0]}, {"role": "user", "content": "\n".join(group)}],
                    responses=["\n\n".join(group[:5]) + f" #{n}", "\n\n".join(group[5:]) + f" #{n}"])  # fmt: skip
    for user in annotators:
        lease = assignment_claim_next(annotator=user, project=project).assignment
        judgment_submit(annotator=user, project=project, assignment_id=lease.pk,
                        payload={"outcome": "tie", "reason": MARKER}, client_key=uuid.uuid4().hex, time_spent_ms=10)  # fmt: skip
    snapshot = snapshot_create(project=project, user=admin, name=MARKER[:200], filters={}, options={})
    snapshot_build(snapshot_id=snapshot.pk)
    # Audit-log fields hold text that users typed (LSE's persistent XSS in its Activity Log, #19).
    for n, payload in enumerate(PAYLOADS[:20]):
        audit_record(actor=None, action=AuditAction.LOGIN_FAILED, details={"username": payload})
        audit_record(actor=admin, action=f"test.xss{n}", project=project, details={payload: payload, "n": [payload]})
    # Training: a run whose error and a checkpoint whose name carry payloads (child output is untrusted).
    base = Checkpoint.objects.create(project=project, kind="policy", name=MARKER[:200], location="/nowhere")
    run = TrainingRun.objects.create(project=project, kind="reward", snapshot=snapshot, base_checkpoint=base,
                                     status="failed", error=joined[:4000], created_by=admin)  # fmt: skip
    project.xss_run_id = run.pk
    # The loop: a failed generation job's error and a generated response are shown on checkpoint and lineage pages.
    GenerationJob.objects.create(project=project, checkpoint=base, selection="sample", prompt_limit=1,
                                 pairing="two_samples", status="failed", error=joined[:4000])  # fmt: skip
    item = Item.objects.filter(project=project).first()
    project.xss_lineage = [f"checkpoint/{base.pk}", f"item/{item.pk}",
                           f"response/{item.item_responses.first().response_id}"]  # fmt: skip
    project.xss_snapshot_id = snapshot.pk
    return project, admin, annotators


def open_and_check(page, url):
    response = page.goto(url)
    assert response is not None, f"{url} gave no response"
    assert response.status == 200, f"{url} answered {response.status}"
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => window.__xss") is None, f"payload ran on {url}"


def test_no_payload_runs_on_any_page(live_server, poisoned):
    project, admin, annotators = poisoned
    base = live_server.url
    pid = project.pk
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        problems: list[str] = []
        for user, paths in (
            (admin, ["/", f"/projects/{pid}/", f"/projects/{pid}/members/", f"/projects/{pid}/imports/",
                     f"/projects/{pid}/snapshots/", f"/projects/{pid}/annotate/", f"/projects/{pid}/audit/",
                     "/audit/", f"/projects/{pid}/snapshots/{project.xss_snapshot_id}/",
                     f"/projects/{pid}/quality/", f"/projects/{pid}/quality/review/", f"/projects/{pid}/quality/gold/",
                     f"/projects/{pid}/runs/", f"/projects/{pid}/runs/new/", f"/projects/{pid}/runs/{project.xss_run_id}/",
                     f"/projects/{pid}/checkpoints/", f"/projects/{pid}/leaderboard/",
                     *(f"/projects/{pid}/lineage/{path}/" for path in project.xss_lineage)]),
            (annotators[0], ["/", f"/projects/{pid}/", f"/projects/{pid}/annotate/"]),
        ):  # fmt: skip
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type == "error" and "favicon" not in m.location.get("url", "")
                    else None
                ),
            )
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            sign_in(page, live_server, user)
            for path in paths:
                open_and_check(page, base + path)
            context.close()
        browser.close()
    assert problems == []


def test_payloads_show_as_text(live_server, poisoned):
    project, admin, _ = poisoned
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        sign_in(page, live_server, admin)
        page.goto(f"{live_server.url}/projects/{project.pk}/")
        # The project name is plain text, so the marker's markup is visible, not interpreted.
        assert "onerror" in page.inner_text("h1")
        assert page.locator("h1 img, h1 script").count() == 0
        browser.close()
