"""The admin trains: start a reward-model run and watch it, cancel another, promote, read the leaderboard.

The runs go through the server to the journey's ``gpu`` Celery worker, which supervises a real
``python -m ml.cli reward`` child on the CPU with the tiny base model of tests/training/conftest.py.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from annotation.models import ItemResponse, Response, Source
from annotation.services.projects import item_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from models_registry.models import Alias, Checkpoint
from tests.browser import screenshot, sign_in
from tests.journeys.checks import assert_accessible
from tests.journeys.people import renamed
from tests.training.ready import ready_project
from training.models import RunStatus, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Long enough that the page's 2 s polls see the run between its first and its last step: on a quiet
# machine 50 tiny steps ended between two polls, and 400 steps (~6 s) once slipped through as well.
# At most 1000: the curve shows that many points (training.selectors.MAX_CURVE_POINTS), checked below.
STEPS_WATCHED = 1000

# [training points, metric points] drawn by Chart.js on the run page.
POINTS = """() => ["loss-chart", "metric-chart"].map((id) => {
  const chart = window.Chart && window.Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0;
})"""
STEPS = """() => { const p = document.querySelector("progress[aria-label='Training steps']");
  return p ? Number(p.value) : 0; }"""


def battles(project, annotators):
    """Items whose two responses come from two policies, judged by the annotators: the leaderboard's input."""
    plan = [("policy-v2", "policy-v1")] * 3 + [("policy-v1", "policy-v2")] * 2
    for n, pair in enumerate(plan):
        item = item_create(project=project, prompt=f"Battle {n}?", responses=[f"A{n}", f"B{n}"], priority=100.0)
        for label, link in zip(pair, ItemResponse.objects.filter(item=item).order_by("position"), strict=True):
            Response.objects.filter(pk=link.response_id).update(
                source=Source.GENERATED, source_detail={"checkpoint": label, "checkpoint_id": 1}
            )
    for annotator in annotators:
        while (lease := assignment_claim_next(annotator=annotator, project=project).assignment) is not None:
            first = ItemResponse.objects.filter(item=lease.item).order_by("position").first()
            judgment_submit(
                annotator=annotator,
                project=project,
                assignment_id=lease.pk,
                payload={"outcome": "preferred", "preferred": first.response_id, "strength": "better"},
                client_key=uuid.uuid4().hex,
                time_spent_ms=1000,
            )


def start_run(page, journey, project, **params):
    page.goto(f"{journey.url}/projects/{project.pk}/runs/")
    page.get_by_role("link", name="Start a run").click()
    expect(page.get_by_label("Preset")).to_have_value("cpu-smoke")
    for name, value in params.items():
        page.fill(f"#id_param_{name}", str(value))
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reward model")
    return TrainingRun.objects.order_by("-pk").first()


def test_admin_trains_watches_cancels_promotes_and_reads_the_leaderboard(page, journey, tiny_base_dir):
    ready = ready_project(tiny_base_dir, items=8)
    battles(ready.project, ready.annotators)
    renamed(ready.admin, "ada")
    sign_in(page, journey, ready.admin)

    # A reward model on the CPU: the status polls from queued to running, the bar and the curves move.
    run = start_run(page, journey, ready.project, max_steps=STEPS_WATCHED, save_steps=STEPS_WATCHED)
    expect(page.locator(".run-status .badge")).to_have_text(re.compile("Queued|Running"))
    # Mid-run: the bar shows a step short of the end and the loss curve already has points.
    page.wait_for_function(
        f"() => {{ const s = ({STEPS})(); return s > 0 && s < {STEPS_WATCHED} && ({POINTS})()[0] > 0; }}",
        timeout=180_000,
    )
    screenshot(page, "run-running")
    # Finished: the page reloads itself with the final metrics and the registered checkpoint.
    expect(page.locator(".run-status .badge")).to_have_text("Succeeded", timeout=180_000)
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.get_by_role("heading", name="Final metrics")).to_be_visible()
    page.wait_for_function(f"() => ({POINTS})()[0] >= {STEPS_WATCHED}")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert_accessible(page)
    screenshot(page, "run")

    # A second, long run, cancelled while it trains.
    long_run = start_run(page, journey, ready.project, max_steps=100_000, save_steps=50)
    page.wait_for_function(f"() => ({STEPS})() > 0", timeout=120_000)
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator(".run-status .badge").first).to_have_text("Cancelled", timeout=120_000)
    long_run.refresh_from_db()
    assert long_run.status == RunStatus.CANCELLED
    assert 0 < long_run.step < 100_000
    assert not Checkpoint.objects.filter(run=long_run).exists()

    # Checkpoints: the first reward model passed the gate on its own; the admin promotes the base policy.
    page.goto(f"{journey.url}/projects/{ready.project.pk}/checkpoints/")
    trained = Checkpoint.objects.get(run=run)
    active = page.locator("section[aria-labelledby=active-head] dl")
    expect(active.locator("dt:text-is('active-reward') + dd")).to_have_text(trained.name)
    expect(active.locator("dt:text-is('active-policy') + dd")).to_have_text("none")
    row = page.locator("table.runs tbody tr").filter(has_text=ready.base.name)
    row.get_by_role("button", name="Promote").click()
    expect(active.locator("dt:text-is('active-policy') + dd")).to_have_text(ready.base.name)
    assert Alias.objects.get(project=ready.project, name="active-policy").checkpoint == ready.base
    assert_accessible(page)
    screenshot(page, "checkpoints")

    # The leaderboard: policy-v2 won 6 of 10 battles.
    page.get_by_role("link", name="Leaderboard").click()
    standings = page.locator("table.runs tbody tr")
    expect(standings).to_have_count(2)
    expect(standings.first.locator("td").nth(1)).to_have_text("policy-v2")
    expect(standings.first.locator("td").nth(5)).to_have_text("6 / 0 / 4")
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('chart-leaderboard'))")
    assert_accessible(page)
    screenshot(page, "leaderboard")
