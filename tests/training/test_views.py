"""Training pages: start form -> run page -> status partial -> curves JSON -> log -> cancel; who sees what."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from core.models import Role
from tests.factories import MembershipFactory
from tests.training.ready import SMOKE, ready_project
from training.models import MetricSplit, RunMetric, RunStatus, TrainingRun, TrainingSchedule
from training.selectors import run_curves
from training.services.runs import run_create
from training.services.transitions import run_transition

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)


def url(name, *args):
    return reverse(f"training:{name}", args=args)


@pytest.fixture
def ready(media, tiny_base_dir):
    return ready_project(tiny_base_dir)


def form_data(ready, **params):
    data = {
        "snapshot": ready.snapshot.pk,
        "kind": "reward",
        "base_checkpoint": ready.base.pk,
        "preset": "cpu-smoke",
    }
    data.update({f"param_{name}": value for name, value in {**SMOKE, **params}.items()})
    return data


def new_run(ready):
    return run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params=SMOKE,
    )


def test_start_form_creates_a_queued_run(client, ready):
    client.force_login(ready.admin)
    page = client.get(url("run_create", ready.project.pk), {"snapshot": ready.snapshot.pk})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Peak learning rate of AdamW." in html  # help text from the ml dataclass
    assert "CPU smoke test" in html
    assert not INLINE_SCRIPT.search(html)

    # Changing kind or preset re-renders the hyper-parameters (htmx partial): LoRA fields for DPO.
    partial = client.get(url("run_create", ready.project.pk), {"kind": "dpo", "preset": "lora"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert 'name="param_lora_r"' in partial.content.decode()
    assert 'value="16"' in partial.content.decode()
    assert "<html" not in partial.content.decode()

    refused = client.post(url("run_create", ready.project.pk), form_data(ready, learning_rate=3))
    assert refused.status_code == 200
    assert "learning_rate must be between" in refused.content.decode()
    assert not TrainingRun.objects.exists()

    response = client.post(url("run_create", ready.project.pk), form_data(ready))
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("run_detail", ready.project.pk, run.pk)
    assert (run.status, run.preset, run.created_by) == (RunStatus.QUEUED, "cpu-smoke", ready.admin)
    assert run.params["max_steps"] == SMOKE["max_steps"]
    assert run.params["max_length"] == SMOKE["max_length"]
    assert run.params["bf16"] is None  # the empty choice: decided by the device in the child


def test_run_page_status_curves_log_and_cancel(client, ready):
    run = new_run(ready)
    client.force_login(ready.admin)
    page = client.get(url("run_detail", ready.project.pk, run.pk))
    html = page.content.decode()
    assert page.status_code == 200
    assert url("run_curves", ready.project.pk, run.pk) in html
    assert "vendor/chart.umd.min.js" in html
    assert not INLINE_SCRIPT.search(html)
    assert "Cancel run" in html

    queued = client.get(url("run_status", ready.project.pk, run.pk), {"detail": "1"})
    assert queued.status_code == 200
    assert 'hx-trigger="every 2s"' in queued.content.decode()

    # The supervisor's writes, as the page sees them.
    run_transition(run_id=run.pk, to=RunStatus.RUNNING, step=3, total=6, loss=0.5)
    RunMetric.objects.bulk_create(
        [
            RunMetric(run=run, step=s, split=MetricSplit.TRAIN, values={"loss": 1 / s, "accuracy": 0.5})
            for s in (1, 2, 3)
        ]
        + [RunMetric(run=run, step=3, split=MetricSplit.EVAL, values={"loss": 0.7, "accuracy": 0.75})]
    )
    log = Path(settings.MEDIA_ROOT) / run.log_path
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\n<script>not markup</script>\n")
    running = client.get(url("run_status", ready.project.pk, run.pk)).content.decode()
    assert 'max="6" value="3"' in running
    assert "step 3 of 6 (50%)" in running

    curves = client.get(url("run_curves", ready.project.pk, run.pk)).json()
    assert curves["train"] == {"step": [1, 2, 3], "loss": [1.0, 0.5, 1 / 3], "accuracy": [0.5, 0.5, 0.5]}
    assert curves["eval"] == {"step": [3], "loss": [0.7], "accuracy": [0.75]}
    assert (curves["last_step"], curves["finished"]) == (3, False)
    newer = client.get(url("run_curves", ready.project.pk, run.pk), {"since": 2}).json()
    assert newer["train"]["step"] == [3]

    tail = client.get(url("run_log", ready.project.pk, run.pk)).content.decode()
    assert "&lt;script&gt;not markup&lt;/script&gt;" in tail  # escaped, never markup

    response = client.post(url("run_cancel", ready.project.pk, run.pk))
    assert response.status_code == 302
    assert TrainingRun.objects.get(pk=run.pk).cancel_requested
    run_transition(run_id=run.pk, to=RunStatus.CANCELLED)
    done = client.get(url("run_status", ready.project.pk, run.pk), {"detail": "1"})
    assert done.status_code == 286  # htmx stops polling
    assert done["HX-Refresh"] == "true"
    assert client.get(url("run_log", ready.project.pk, run.pk)).status_code == 286
    assert client.get(url("run_list", ready.project.pk)).status_code == 200


def test_curves_are_thinned_for_long_runs_keeping_the_newest_point(ready):
    run = new_run(ready)
    RunMetric.objects.bulk_create(
        RunMetric(run=run, step=s, split=MetricSplit.TRAIN, values={"loss": float(s)}) for s in range(1, 10_001)
    )
    curves = run_curves(run=run, limit=500)
    steps = curves["train"]["step"]
    assert len(steps) <= 501
    assert steps[0] == 1
    assert steps[-1] == 10_000
    assert curves["train"]["loss"][-1] == 10_000.0


def test_researchers_view_admins_act_annotators_and_other_projects_get_404(client, ready, media, tiny_base_dir):
    run = new_run(ready)
    p, r = ready.project.pk, run.pk
    reads = [url("run_list", p), url("run_detail", p, r), url("run_status", p, r), url("run_curves", p, r)]
    reads += [url("run_log", p, r), url("schedule_list", p)]

    client.force_login(ready.researcher)
    for address in reads:
        assert client.get(address).status_code == 200, address
    assert "Cancel run" not in client.get(url("run_detail", p, r)).content.decode()
    assert client.get(url("run_create", p)).status_code == 403
    assert client.post(url("run_cancel", p, r)).status_code == 403
    assert client.post(url("run_resume", p, r)).status_code == 403

    for user in (ready.annotator, MembershipFactory(project=ready.project, role=Role.REVIEWER).user):
        client.force_login(user)
        for address in [*reads, url("run_create", p)]:
            assert client.get(address).status_code == 404, address
        assert client.post(url("run_cancel", p, r)).status_code == 404

    other = ready_project(tiny_base_dir)
    client.force_login(other.admin)
    assert client.get(url("run_detail", p, r)).status_code == 404  # not a member of the run's project
    assert client.get(url("run_detail", other.project.pk, r)).status_code == 404  # the run is not in theirs
    assert client.post(url("run_cancel", other.project.pk, r)).status_code == 404
    assert not TrainingRun.objects.get(pk=r).cancel_requested


def test_schedule_page_creates_toggles_and_deletes(client, ready):
    client.force_login(ready.admin)
    page = client.get(url("schedule_list", ready.project.pk))
    assert page.status_code == 200
    assert "New schedule" in page.content.decode()
    data = {
        "name": "nightly reward",
        "kind": "reward",
        "trigger": "cron",
        "cron": "0 3 * * *",
        "base_checkpoint": ready.base.pk,
        "preset": "cpu-smoke",
        **{f"param_{name}": value for name, value in SMOKE.items()},
    }
    assert client.post(url("schedule_list", ready.project.pk), {**data, "cron": "soon"}).status_code == 200
    response = client.post(url("schedule_list", ready.project.pk), data)
    assert response.status_code == 302
    schedule = TrainingSchedule.objects.get()
    assert (schedule.cron, schedule.periodic_task.enabled) == ("0 3 * * *", True)

    client.post(url("schedule_toggle", ready.project.pk, schedule.pk))
    schedule.refresh_from_db()
    assert not schedule.enabled
    assert not schedule.periodic_task.enabled

    client.force_login(ready.researcher)
    assert "New schedule" not in client.get(url("schedule_list", ready.project.pk)).content.decode()
    assert client.post(url("schedule_delete", ready.project.pk, schedule.pk)).status_code == 403
    client.force_login(ready.admin)
    assert client.post(url("schedule_delete", ready.project.pk, schedule.pk)).status_code == 302
    assert not TrainingSchedule.objects.exists()
