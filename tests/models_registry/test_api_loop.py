"""The loop over the REST API: checkpoints, promote / roll back, generation and scoring jobs; who may do what.

Real Postgres; jobs are recorded on commit (``enqueued``), never executed here: their execution has its own
tests (test_generation.py, test_scoring.py).
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import AuditEvent, Role
from models_registry.aliases import alias_checkpoint, alias_promote, loop_settings_update
from models_registry.models import AliasName, Checkpoint, JobStatus, PriorityStrategy, ScoringJob
from models_registry.models_jobs import GenerationJob
from tests.factories import MembershipFactory, annotation_project

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def url(name, *args):
    return reverse(name, args=args)


class World:
    def __init__(self) -> None:
        self.project, (self.annotator,) = annotation_project(items=2)
        self.admin = MembershipFactory(project=self.project, role=Role.ADMIN).user
        self.researcher = MembershipFactory(project=self.project, role=Role.RESEARCHER).user
        self.rm1, self.rm2 = (
            Checkpoint.objects.create(
                project=self.project,
                kind="reward",
                name=f"rm {n}",
                location=f"/x/rm{n}",
                metrics={"heldout_accuracy": 0.5 + n / 10},
            )
            for n in (1, 2)
        )
        self.policy = Checkpoint.objects.create(project=self.project, kind="policy", name="policy", location="/x/p")


@pytest.fixture
def world():
    return World()


def test_checkpoints_list_with_aliases_metrics_and_a_kind_filter(world):
    alias_promote(actor=world.admin, checkpoint=world.rm1)
    client = api_for(world.researcher)
    page = client.get(url("api-checkpoints", world.project.pk)).json()
    assert page["count"] == 3
    by_id = {c["id"]: c for c in page["results"]}
    assert by_id[world.rm1.pk]["aliases"] == ["active-reward"]
    assert by_id[world.rm2.pk]["aliases"] == []
    assert by_id[world.rm2.pk]["metrics"] == {"heldout_accuracy": 0.7}
    assert (by_id[world.policy.pk]["run"], by_id[world.policy.pk]["snapshot"], by_id[world.policy.pk]["is_base"]) == (
        None,
        None,
        True,
    )
    assert "location" not in by_id[world.policy.pk]  # a path on the server is nobody's business

    policies = client.get(url("api-checkpoints", world.project.pk), {"kind": "policy"}).json()
    assert [c["id"] for c in policies["results"]] == [world.policy.pk]
    refused = client.get(url("api-checkpoints", world.project.pk), {"kind": "sft"})
    assert refused.status_code == 400
    assert "kind" in refused.json()

    one = client.get(url("api-checkpoint", world.project.pk, world.rm1.pk)).json()
    assert (one["name"], one["aliases"]) == ("rm 1", ["active-reward"])


def test_promote_rollback_and_their_refusals(world):
    client = api_for(world.admin)
    rollback = url("api-alias-rollback", world.project.pk, "active-reward")
    assert client.post(rollback).status_code == 404  # never set: there is no alias to roll back yet

    first = client.post(url("api-checkpoint-promote", world.project.pk, world.rm1.pk), {"reason": "baseline"})
    assert first.status_code == 200
    assert (first.json()["alias"], first.json()["kind"], first.json()["reason"]) == (
        "active-reward",
        "promote",
        "baseline",
    )
    nothing_before = client.post(rollback)
    assert nothing_before.status_code == 409
    assert "nothing to roll back to" in nothing_before.json()["detail"]
    again = client.post(url("api-checkpoint-promote", world.project.pk, world.rm1.pk))
    assert again.status_code == 409
    assert "already the active-reward" in again.json()["detail"]
    too_long = client.post(url("api-checkpoint-promote", world.project.pk, world.rm2.pk), {"reason": "x" * 501})
    assert too_long.status_code == 400
    assert "reason" in too_long.json()

    second = client.post(url("api-checkpoint-promote", world.project.pk, world.rm2.pk), format="json")
    assert (second.json()["checkpoint"], second.json()["previous"]) == (world.rm2.pk, world.rm1.pk)
    back = client.post(rollback)
    assert back.status_code == 200
    assert (back.json()["kind"], back.json()["checkpoint"]) == ("rollback", world.rm1.pk)
    assert alias_checkpoint(project=world.project, name=AliasName.ACTIVE_REWARD) == world.rm1
    assert client.post(url("api-alias-rollback", world.project.pk, "active-critic")).status_code == 404

    # Audited once each, by the service.
    assert AuditEvent.objects.filter(action="models_registry.promote", project=world.project).count() == 2
    assert AuditEvent.objects.filter(action="models_registry.rollback", project=world.project).count() == 1


def test_generation_job_is_queued_on_commit_refused_while_one_is_active_and_cancelled_twice(
    world, enqueued, django_capture_on_commit_callbacks
):
    client = api_for(world.admin)
    jobs = url("api-generation-jobs", world.project.pk)
    no_policy = client.post(jobs, {}, format="json")
    assert no_policy.status_code == 409
    assert "no active policy" in no_policy.json()["detail"]

    alias_promote(actor=world.admin, checkpoint=world.policy)
    bad = client.post(jobs, {"params": {"temperature": 9, "top_p": 0}}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"params.temperature", "params.top_p"}
    assert client.post(jobs, {"selection": "everything"}, format="json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            jobs,
            {"selection": "sample", "prompt_limit": 5, "pairing": "two_samples", "params": {"num_samples": 2}},
            format="json",
        )
    assert created.status_code == 201, created.json()
    job = GenerationJob.objects.get()
    assert enqueued["generate"] == [job.pk]
    data = created.json()
    assert (data["id"], data["status"], data["checkpoint"], data["selection"], data["prompt_limit"]) == (
        job.pk, "queued", world.policy.pk, "sample", 5,
    )  # fmt: skip
    assert data["params"]["num_samples"] == 2
    busy = client.post(jobs, {}, format="json")
    assert busy.status_code == 409
    assert "already queued or running" in busy.json()["detail"]

    assert client.get(url("api-generation-job", world.project.pk, job.pk)).json()["status"] == "queued"
    assert [j["id"] for j in client.get(jobs).json()["results"]] == [job.pk]
    for _ in range(2):
        cancelled = client.post(url("api-generation-job-cancel", world.project.pk, job.pk))
        assert cancelled.status_code == 200
        assert (cancelled.json()["status"], cancelled.json()["cancel_requested"], cancelled.json()["finished"]) == (
            "cancelled", True, True,
        )  # fmt: skip

    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, cancel_requested=False)
    done = client.post(url("api-generation-job-cancel", world.project.pk, job.pk))
    assert (done.json()["status"], done.json()["cancel_requested"]) == ("succeeded", False)  # left as it was


def test_scoring_job_is_queued_on_commit_and_refused_without_a_model_or_while_active(
    world, enqueued, django_capture_on_commit_callbacks
):
    client = api_for(world.admin)
    jobs = url("api-scoring-jobs", world.project.pk)
    refused = client.post(jobs)
    assert refused.status_code == 409  # uncertainty, the default strategy, needs an active reward model
    assert "no active reward model" in refused.json()["detail"]

    loop_settings_update(project=world.project, priority_strategy=PriorityStrategy.FIFO, gate_margin=0.0)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(jobs)
    assert created.status_code == 201
    job = ScoringJob.objects.get()
    assert enqueued["score_queue"] == [job.pk]
    assert (created.json()["strategy"], created.json()["status"], created.json()["checkpoint"]) == (
        "fifo",
        "queued",
        None,
    )
    assert client.post(jobs).status_code == 409

    ScoringJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, total=8, done=2)
    progress = client.get(url("api-scoring-job", world.project.pk, job.pk)).json()
    assert (progress["status"], progress["done"], progress["total"], progress["percent"]) == ("running", 2, 8, 25)
    assert [j["id"] for j in client.get(jobs).json()["results"]] == [job.pk]


def test_researchers_read_admins_act_others_and_other_projects_get_404(world):
    alias_promote(actor=world.admin, checkpoint=world.rm1)
    generation = GenerationJob.objects.create(
        project=world.project, checkpoint=world.policy, selection="sample", prompt_limit=1, pairing="two_samples"
    )
    scoring = ScoringJob.objects.create(project=world.project, strategy="fifo", status=JobStatus.SUCCEEDED)
    p = world.project.pk
    reads = [
        url("api-checkpoints", p), url("api-checkpoint", p, world.rm1.pk), url("api-generation-jobs", p),
        url("api-generation-job", p, generation.pk), url("api-scoring-jobs", p), url("api-scoring-job", p, scoring.pk),
    ]  # fmt: skip
    writes = [
        url("api-checkpoint-promote", p, world.rm2.pk), url("api-alias-rollback", p, "active-reward"),
        url("api-generation-jobs", p), url("api-generation-job-cancel", p, generation.pk), url("api-scoring-jobs", p),
    ]  # fmt: skip

    researcher = api_for(world.researcher)
    for address in reads:
        assert researcher.get(address).status_code == 200, address
    for address in writes:
        assert researcher.post(address, {}, format="json").status_code == 403, address

    for user in (world.annotator, MembershipFactory(project=world.project, role=Role.REVIEWER).user):
        client = api_for(user)
        for address in [*reads, *writes]:
            assert client.get(address).status_code in (404, 405), address
            assert client.post(address, {}, format="json").status_code in (404, 405), address

    other = World()
    stranger = api_for(other.admin)
    q = other.project.pk
    mine_with_their_ids = [
        url("api-checkpoint", q, world.rm1.pk), url("api-checkpoint-promote", q, world.rm2.pk),
        url("api-generation-job", q, generation.pk), url("api-generation-job-cancel", q, generation.pk),
        url("api-scoring-job", q, scoring.pk),
    ]  # fmt: skip
    for address in [*reads, *writes, *mine_with_their_ids]:
        assert stranger.get(address).status_code in (404, 405), address
        assert stranger.post(address, {}, format="json").status_code in (404, 405), address
    assert APIClient().get(url("api-checkpoints", p)).status_code == 401

    # Nothing moved: the alias, the jobs.
    assert alias_checkpoint(project=world.project, name=AliasName.ACTIVE_REWARD) == world.rm1
    assert GenerationJob.objects.get(pk=generation.pk).status == JobStatus.QUEUED
    assert GenerationJob.objects.filter(project=world.project).count() == 1
    assert ScoringJob.objects.filter(project=world.project).count() == 1
