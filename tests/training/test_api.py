"""Training runs over the REST API: start (admins), list with filters, progress, curve points, cancel, resume.

Real Postgres, a real snapshot and a tiny base model; tasks are recorded on commit (``enqueued``) and only
one test runs a training child, through the task body, to see a script's whole start-and-poll.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import AuditEvent, Role
from tests.factories import MembershipFactory
from tests.training.ready import SMOKE, ready_project
from training.models import MetricSplit, RunMetric, RunStatus, TrainingRun
from training.services.runs import run_create
from training.services.transitions import run_transition
from training.tasks import execute_run

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def url(name, *args):
    return reverse(name, args=args)


@pytest.fixture
def ready(media, tiny_base_dir):
    return ready_project(tiny_base_dir)


def body(ready, **changes):
    return {
        "kind": "reward",
        "snapshot": ready.snapshot.pk,
        "base_checkpoint": ready.base.pk,
        "params": dict(SMOKE),
        **changes,
    }


def new_run(ready, kind="reward"):
    return run_create(
        project=ready.project, user=ready.admin, kind=kind, snapshot=ready.snapshot, base_checkpoint=ready.base,
        params=SMOKE,
    )  # fmt: skip


def test_admin_starts_a_run_that_is_enqueued_on_commit(ready, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(ready.admin).post(
            url("api-runs", ready.project.pk), body(ready, preset="cpu-smoke", params={"max_steps": 4}), format="json"
        )
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get()
    data = response.json()
    assert data["id"] == run.pk
    assert (data["kind"], data["status"], data["preset"], data["finished"]) == ("reward", "queued", "cpu-smoke", False)
    assert (data["step"], data["total"], data["percent"], data["checkpoint"]) == (0, 0, 0, None)
    # The preset fills what the body leaves out; the body wins where it says something.
    assert run.params["max_steps"] == 4
    assert run.params["save_steps"] == 10  # from "CPU smoke test"
    assert (run.created_by, run.snapshot, run.base_checkpoint) == (ready.admin, ready.snapshot, ready.base)
    assert enqueued["execute_run"] == [run.pk]
    assert AuditEvent.objects.filter(action="training.run_start", target_id=str(run.pk)).count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"params": {**SMOKE, "learning_rate": 3}}, "params.learning_rate"),
        ({"params": {"no_such_knob": 1}}, "params.no_such_knob"),
        ({"kind": "sft"}, "kind"),
        ({"preset": "turbo"}, "preset"),
        ({"snapshot": "first"}, "snapshot"),
        ({"params": [1, 2]}, "params"),
    ],
)
def test_a_refused_start_names_the_field_and_writes_nothing(ready, enqueued, changes, field):
    response = api_for(ready.admin).post(url("api-runs", ready.project.pk), body(ready, **changes), format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not TrainingRun.objects.exists()
    assert enqueued["execute_run"] == []


def test_another_projects_snapshot_or_checkpoint_is_refused_as_not_of_this_project(ready, tiny_base_dir):
    other = ready_project(tiny_base_dir)
    client = api_for(ready.admin)
    response = client.post(url("api-runs", ready.project.pk), body(ready, snapshot=other.snapshot.pk), format="json")
    assert response.status_code == 400
    assert response.json() == {"snapshot": ["choose a snapshot of this project"]}
    response = client.post(url("api-runs", ready.project.pk), body(ready, base_checkpoint=other.base.pk), format="json")
    assert response.json() == {"base_checkpoint": ["choose a checkpoint of this project"]}
    assert not TrainingRun.objects.exists()


def test_a_preset_must_exist_and_be_one_of_the_runs_kind(ready):
    client = api_for(ready.admin)
    response = client.post(url("api-runs", ready.project.pk), body(ready, kind="dpo", preset="nope"), format="json")
    assert "preset" in response.json()
    dpo_preset_for_reward = client.post(
        url("api-runs", ready.project.pk), body(ready, preset="robust-dpo"), format="json"
    )
    assert dpo_preset_for_reward.status_code == 400
    assert "preset" in dpo_preset_for_reward.json()


def test_list_is_paginated_and_filtered_by_status_and_kind(ready):
    first, second = new_run(ready), new_run(ready)
    run_transition(run_id=first.pk, to=RunStatus.CANCELLED)
    client = api_for(ready.researcher)
    page = client.get(url("api-runs", ready.project.pk)).json()
    assert page["count"] == 2
    assert [r["id"] for r in page["results"]] == [second.pk, first.pk]  # newest first
    assert [
        r["id"] for r in client.get(url("api-runs", ready.project.pk), {"status": "cancelled"}).json()["results"]
    ] == [first.pk]
    assert client.get(url("api-runs", ready.project.pk), {"kind": "dpo"}).json()["count"] == 0
    refused = client.get(url("api-runs", ready.project.pk), {"status": "done"})
    assert refused.status_code == 400
    assert "status" in refused.json()


def test_detail_shows_progress_loss_and_metrics_and_the_curve_points_page(ready):
    run = new_run(ready)
    run_transition(
        run_id=run.pk, to=RunStatus.RUNNING, step=3, total=6, loss=0.5, latest_metrics={"eval": {"accuracy": 0.75}}
    )
    RunMetric.objects.bulk_create(
        [RunMetric(run=run, step=s, split=MetricSplit.TRAIN, values={"loss": 1 / s}) for s in (1, 2, 3)]
        + [RunMetric(run=run, step=3, split=MetricSplit.EVAL, values={"accuracy": 0.75})]
    )
    client = api_for(ready.researcher)
    data = client.get(url("api-run", ready.project.pk, run.pk)).json()
    assert (data["status"], data["step"], data["total"], data["percent"], data["loss"]) == ("running", 3, 6, 50, 0.5)
    assert data["latest_metrics"] == {"eval": {"accuracy": 0.75}}

    points = client.get(url("api-run-metrics", ready.project.pk, run.pk)).json()
    assert points["count"] == 4
    assert [(p["step"], p["split"]) for p in points["results"]] == [
        (1, "train"),
        (2, "train"),
        (3, "train"),
        (3, "eval"),
    ]
    newer = client.get(url("api-run-metrics", ready.project.pk, run.pk), {"since": 2, "split": "train"}).json()
    assert [(p["step"], p["values"]) for p in newer["results"]] == [(3, {"loss": 1 / 3})]
    paged = client.get(url("api-run-metrics", ready.project.pk, run.pk), {"page_size": 3}).json()
    assert (len(paged["results"]), paged["next"] is not None) == (3, True)
    assert client.get(url("api-run-metrics", ready.project.pk, run.pk), {"since": "-1"}).status_code == 400


def test_cancel_is_idempotent_and_resume_answers_409_for_a_run_that_cannot(ready, enqueued):
    run = new_run(ready)
    client = api_for(ready.admin)
    resume = client.post(url("api-run-resume", ready.project.pk, run.pk))
    assert resume.status_code == 409
    assert "failed or cancelled" in resume.json()["detail"]

    for _ in range(2):
        response = client.post(url("api-run-cancel", ready.project.pk, run.pk))
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["cancel_requested"]) == ("cancelled", True)
    finished_at = TrainingRun.objects.get(pk=run.pk).finished_at
    assert client.post(url("api-run-cancel", ready.project.pk, run.pk)).json()["finished_at"] is not None
    assert TrainingRun.objects.get(pk=run.pk).finished_at == finished_at  # a second cancel changes nothing

    resumed = client.post(url("api-run-resume", ready.project.pk, run.pk))
    assert resumed.status_code == 200
    assert (resumed.json()["status"], resumed.json()["cancel_requested"]) == ("queued", False)


def test_cancelling_a_running_run_asks_its_supervisor(ready):
    run = new_run(ready)
    run_transition(run_id=run.pk, to=RunStatus.RUNNING)
    response = api_for(ready.admin).post(url("api-run-cancel", ready.project.pk, run.pk))
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("running", True)


def test_researchers_read_admins_act_others_get_404(ready, tiny_base_dir):
    run = new_run(ready)
    p, r = ready.project.pk, run.pk
    reads = [url("api-runs", p), url("api-run", p, r), url("api-run-metrics", p, r)]
    writes = [url("api-runs", p), url("api-run-cancel", p, r), url("api-run-resume", p, r)]

    researcher = api_for(ready.researcher)
    for address in reads:
        assert researcher.get(address).status_code == 200, address
    for address in writes:
        assert researcher.post(address, body(ready), format="json").status_code == 403, address

    for user in (ready.annotator, MembershipFactory(project=ready.project, role=Role.REVIEWER).user):
        client = api_for(user)
        for address in reads:
            assert client.get(address).status_code == 404, address
        for address in writes:
            assert client.post(address, body(ready), format="json").status_code == 404, address

    other = ready_project(tiny_base_dir)
    stranger = api_for(other.admin)
    assert stranger.get(url("api-run", p, r)).status_code == 404  # not a member of the run's project
    assert stranger.get(url("api-run", other.project.pk, r)).status_code == 404  # the run is not in theirs
    assert stranger.post(url("api-run-cancel", other.project.pk, r)).status_code == 404
    assert APIClient().get(url("api-run", p, r)).status_code == 401
    assert TrainingRun.objects.get(pk=r).status == RunStatus.QUEUED
    assert not TrainingRun.objects.get(pk=r).cancel_requested


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_script_starts_a_run_polls_it_to_the_end_and_finds_its_checkpoint(ready, enqueued, fast_ticks):
    client = api_for(ready.admin)
    started = client.post(url("api-runs", ready.project.pk), body(ready), format="json")
    assert started.status_code == 201
    run_id = started.json()["id"]
    assert enqueued["execute_run"] == [run_id]

    execute_run.run(run_id)  # what the gpu worker does with the message

    data = client.get(url("api-run", ready.project.pk, run_id)).json()
    assert data["status"] == "succeeded", data["error"]
    assert (data["step"], data["total"], data["percent"], data["finished"]) == (6, 6, 100, True)
    assert "heldout_accuracy" in data["metrics"]
    assert data["checkpoint"] is not None
    points = client.get(url("api-run-metrics", ready.project.pk, run_id), {"split": "train"}).json()
    assert points["count"] >= 1
    assert all("loss" in p["values"] for p in points["results"])

    checkpoint = client.get(url("api-checkpoint", ready.project.pk, data["checkpoint"])).json()
    assert (checkpoint["kind"], checkpoint["run"], checkpoint["snapshot"]) == ("reward", run_id, ready.snapshot.pk)
    assert checkpoint["metrics"]["heldout_accuracy"] == data["metrics"]["heldout_accuracy"]
    assert checkpoint["aliases"] == ["active-reward"]  # the first reward model passes the gate by itself
