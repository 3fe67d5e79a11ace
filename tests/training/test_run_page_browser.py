"""The run page in a real Chromium under the app's CSP: Chart.js draws the curves, htmx polls the status
until the run ends. Any console error (a CSP violation included) fails the test."""

from __future__ import annotations

import os

import pytest
from django.db import connection

# Playwright's sync API runs an event loop in this thread; the ORM calls below are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import playwright.sync_api as playwright_sync

from tests.training.ready import SMOKE, ready_project
from training.models import MetricSplit, RunMetric, RunStatus
from training.services.runs import run_create
from training.services.transitions import run_transition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"  # tests.factories.UserFactory

POINTS = """() => ["loss-chart", "metric-chart"].map(
  (id) => window.Chart.getChart(document.getElementById(id)).data.datasets.map((d) => d.data.length))"""


def test_curves_draw_and_the_status_polls_until_the_run_ends(live_server, media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params=SMOKE,
    )
    run_transition(run_id=run.pk, to=RunStatus.RUNNING, step=2, total=6, loss=0.6)
    RunMetric.objects.bulk_create(
        RunMetric(run=run, step=s, split=MetricSplit.TRAIN, values={"loss": 1 / s, "accuracy": 0.5}) for s in (1, 2)
    )
    problems: list[str] = []
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", ready.admin.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        page.goto(f"{live_server.url}/projects/{ready.project.pk}/runs/{run.pk}/")
        page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('loss-chart'))")
        page.wait_for_function(f"() => ({POINTS})()[0][0] === 2")
        assert page.input_value("#metric-pick") == "train:accuracy"

        # New points arrive with the next poll of the curves endpoint (every 2 s, only steps after 2).
        RunMetric.objects.create(run=run, step=3, split=MetricSplit.TRAIN, values={"loss": 0.3, "accuracy": 1.0})
        RunMetric.objects.create(run=run, step=3, split=MetricSplit.EVAL, values={"loss": 0.4, "accuracy": 1.0})
        page.wait_for_function(f"() => JSON.stringify(({POINTS})()) === JSON.stringify([[3, 1], [1]])")

        run_transition(run_id=run.pk, to=RunStatus.SUCCEEDED, step=6)
        page.wait_for_function("() => document.querySelector('.run-status').innerText.includes('Succeeded')")
        browser.close()
        # ORM calls inside Playwright's context run on a connection of their own: close it here, or it
        # keeps the test database open at teardown.
        connection.close()
    assert problems == []
