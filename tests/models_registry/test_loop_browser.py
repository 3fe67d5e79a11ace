"""The loop's pages in a real Chromium under the app's CSP: the agreement and leaderboard plots draw from
real rows, and a generation job's progress bar polls until the job ends. Any console error fails."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import playwright.sync_api as playwright_sync

from annotation.models import ItemResponse, Response, Source
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Role
from curation.models import DatasetSnapshot
from models_registry.aliases import alias_promote
from models_registry.models import Checkpoint, JobStatus
from models_registry.models_jobs import AgreementCheck, GenerationJob
from tests.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.factories import MembershipFactory, annotation_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_POINTS = """(id) => {
  const chart = window.Chart && window.Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.map((d) => d.data.filter((v) => v !== null).length) : null;
}"""


def battles(project, annotators, policies):
    """Each annotator judges every item; every item is policy 0 against policy 1, policy 1 wins."""
    for annotator in annotators:
        while (lease := assignment_claim_next(annotator=annotator, project=project).assignment) is not None:
            links = list(ItemResponse.objects.filter(item=lease.item).order_by("position"))
            for link, policy in zip(links, policies, strict=True):
                Response.objects.filter(pk=link.response_id).update(
                    source=Source.GENERATED, source_detail={"checkpoint": policy.name, "checkpoint_id": policy.pk}
                )
            judgment_submit(
                annotator=annotator, project=project, assignment_id=lease.pk, client_key=uuid.uuid4().hex,
                payload={"outcome": "preferred", "preferred": links[1].response_id, "strength": "better"},
                time_spent_ms=10,
            )  # fmt: skip


def test_plots_draw_and_generation_progress_polls_until_done(live_server):
    project, annotators = annotation_project(items=3, overlap=2, annotators=2)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    old, new = (
        Checkpoint.objects.create(project=project, kind="policy", name=f"policy {n}", location=f"/x/{n}")
        for n in (1, 2)
    )
    battles(project, annotators, [old, new])
    reward = Checkpoint.objects.create(project=project, kind="reward", name="rm", location="/x/rm")
    for n, accuracy in enumerate((0.8, 0.7)):
        snapshot = DatasetSnapshot.objects.create(project=project, name=f"s{n}", status="succeeded")
        AgreementCheck.objects.create(
            project=project, snapshot=snapshot, checkpoint=reward, status=JobStatus.SUCCEEDED,
            pairs=10, agreed=int(accuracy * 10),
        )  # fmt: skip
    alias_promote(actor=admin, checkpoint=new)
    job = GenerationJob.objects.create(
        project=project, checkpoint=new, baseline=old, selection="sample", prompt_limit=3, pairing="vs_previous",
        status=JobStatus.RUNNING, total=12, done=3,
    )  # fmt: skip

    problems: list[str] = []
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        sign_in(page, live_server, admin)

        page.goto(f"{live_server.url}/projects/{project.pk}/checkpoints/")
        page.wait_for_function(f"() => ({CHART_POINTS})('chart-agreement') !== null")
        assert page.evaluate(f"({CHART_POINTS})('chart-agreement')") == [2]  # one model, two snapshots
        assert "Leaderboard: #1 of 2" in page.inner_text("main")
        status = page.locator(f"#generation-{job.pk}-status")
        assert status.locator("progress").get_attribute("value") == "3"

        GenerationJob.objects.filter(pk=job.pk).update(done=9)
        page.wait_for_function(
            f"() => document.querySelector('#generation-{job.pk}-status progress')?.getAttribute('value') === '9'"
        )
        GenerationJob.objects.filter(pk=job.pk).update(
            status=JobStatus.SUCCEEDED, done=12, prompts=3, responses_created=12, items_created=6
        )
        page.wait_for_function(
            f"() => document.querySelector('#generation-{job.pk}-status').innerText.includes('6 new items')"
        )

        page.goto(f"{live_server.url}/projects/{project.pk}/leaderboard/")
        page.wait_for_function(f"() => ({CHART_POINTS})('chart-leaderboard') !== null")
        assert page.evaluate(f"({CHART_POINTS})('chart-leaderboard')") == [2, 2]  # intervals and ratings
        rows = page.locator("table.runs tbody tr").all_inner_texts()
        assert rows[0].split("\t")[1] == "policy 2"
        browser.close()
        connection.close()
    assert problems == []
