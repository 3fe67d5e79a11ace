"""The scoring job re-prioritises open items with the active reward model (in a child process)."""

from __future__ import annotations

import shutil

import pytest

from annotation.models import Item
from annotation.services.queue import assignment_claim_next
from ml.manifest import manifest_hashes, read_manifest
from models_registry import scoring
from models_registry.aliases import alias_promote, loop_settings_get
from models_registry.models import Checkpoint, JobStatus, PriorityStrategy, ScoringJob
from models_registry.scoring import ScoringRefused, scoring_job_create, scoring_job_execute, uncertainty_priority
from models_registry.tasks import score_queue
from tests.factories import ProjectFactory, annotation_project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """Jobs enqueued on commit are recorded, not sent: the tests call the task body directly."""
    sent: list[int] = []
    monkeypatch.setattr(score_queue, "delay_on_commit", sent.append)
    return sent


@pytest.fixture(scope="module")
def reward_dir(tmp_path_factory, tiny_base_dir):
    from ml.config import RewardRunConfig
    from ml.train import train_reward
    from tests.ml.conftest import preference_rows, write_jsonl

    root = tmp_path_factory.mktemp("reward")
    config = RewardRunConfig(
        model_dir=str(tiny_base_dir),
        train_file=str(write_jsonl(root / "train.jsonl", preference_rows(16))),
        output_dir=str(root / "out"),
        max_steps=2,
        batch_size=4,
        max_length=64,
        eval_fraction=0.0,
        device="cpu",
        progress_file=str(root / "progress.jsonl"),
    )
    result = train_reward(config)
    assert result.model_dir is not None
    return result.model_dir


def active_reward(project, folder):
    checkpoint = Checkpoint.objects.create(
        project=project,
        kind="reward",
        name="rm",
        location=str(folder),
        sha256=manifest_hashes(read_manifest(folder)),
        manifest=read_manifest(folder),
    )
    alias_promote(actor=None, checkpoint=checkpoint)
    return checkpoint


def priorities(project):
    return dict(Item.objects.filter(project=project).values_list("pk", "priority"))


@pytest.mark.parametrize(("p", "expected"), [(0.5, 1.0), (0.0, 0.0), (1.0, 0.0), (0.75, 0.5), (0.25, 0.5)])
def test_uncertainty_priority_is_highest_for_a_coin_flip(p, expected):
    assert uncertainty_priority(p) == pytest.approx(expected)


@pytest.mark.slow
def test_scoring_serves_the_most_uncertain_item_first(reward_dir, queued):
    from ml.checkpoints import score_pairs
    from ml.scoring import PreferencePair

    project, (annotator,) = annotation_project(items=5, randomise=False)
    active_reward(project, reward_dir)
    Item.objects.filter(project=project).update(open_slots=1)  # every item open

    job = scoring_job_create(project=project, actor=None)
    assert queued == [job.pk]
    assert job.status == JobStatus.QUEUED
    done = scoring_job_execute(job_id=job.pk)

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.done == done.total == 10
    items = list(Item.objects.filter(project=project).order_by("pk").prefetch_related("item_responses__response"))
    pairs = [
        PreferencePair(f"Question {n}?", *(r.response.text for r in i.item_responses.all()))
        for n, i in enumerate(items)
    ]
    expected = [uncertainty_priority(p) for p in score_pairs(reward_dir, pairs)]
    assert [i.priority for i in items] == pytest.approx(expected, abs=1e-5)
    most_uncertain = max(items, key=lambda i: i.priority)
    assert assignment_claim_next(annotator=annotator, project=project).assignment.item_id == most_uncertain.pk
    assert scoring_job_execute(job_id=job.pk) is None  # a redelivered message does nothing


def test_a_tampered_checkpoint_fails_the_job_and_leaves_priorities_unchanged(reward_dir, tmp_path):
    project, _ = annotation_project(items=3)
    copy = shutil.copytree(reward_dir, tmp_path / "copy")
    active_reward(project, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    before = priorities(project)

    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)

    assert job.status == JobStatus.FAILED
    assert "model.safetensors does not match its recorded sha256" in job.error
    assert "priorities are unchanged" in job.error
    assert priorities(project) == before


def test_the_scoring_child_refuses_a_tampered_checkpoint_too(reward_dir, tmp_path, monkeypatch):
    """Even if the folder changes after the parent's check, the child refuses to load it."""
    project, _ = annotation_project(items=2)
    copy = shutil.copytree(reward_dir, tmp_path / "copy")
    active_reward(project, copy)
    (copy / "model.safetensors").write_bytes(b"not the weights")
    monkeypatch.setattr(scoring, "checkpoint_verify", lambda **_: None)
    before = priorities(project)

    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)

    assert job.status == JobStatus.FAILED
    assert "checkpoint refused" in job.error
    assert priorities(project) == before


@pytest.mark.parametrize("strategy", [PriorityStrategy.RANDOM, PriorityStrategy.FIFO])
def test_random_and_fifo_strategies_need_no_model(strategy):
    project, (annotator,) = annotation_project(items=4)
    settings = loop_settings_get(project=project)
    settings.priority_strategy = strategy
    settings.save()

    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)

    assert job.status == JobStatus.SUCCEEDED
    assert job.done == job.total == 4
    values = priorities(project)
    if strategy == PriorityStrategy.FIFO:
        assert set(values.values()) == {0.0}
        assert assignment_claim_next(annotator=annotator, project=project).assignment.item_id == min(values)
    else:
        assert all(0.0 <= v < 1.0 for v in values.values())
        assert len(set(values.values())) == 4


def test_uncertainty_needs_an_active_reward_model_and_one_job_at_a_time():
    project, _ = annotation_project(items=1)
    with pytest.raises(ScoringRefused, match="no active reward model"):
        scoring_job_create(project=project, actor=None)
    settings = loop_settings_get(project=project)
    settings.priority_strategy = PriorityStrategy.FIFO
    settings.save()
    scoring_job_create(project=project, actor=None)
    with pytest.raises(ScoringRefused, match="already queued"):
        scoring_job_create(project=project, actor=None)


def test_lost_and_never_picked_jobs_are_failed_so_the_project_can_rescore():
    from datetime import timedelta

    from django.utils import timezone

    from models_registry.scoring import scoring_jobs_reap_stale

    project, _ = annotation_project(items=1)
    old = timezone.now() - timedelta(hours=2)
    lost = ScoringJob.objects.create(project=project, strategy="fifo", status=JobStatus.RUNNING, heartbeat_at=old)
    unpicked = ScoringJob.objects.create(project=project, strategy="fifo")
    ScoringJob.objects.filter(pk=unpicked.pk).update(created_at=old)
    alive = ScoringJob.objects.create(
        project=ProjectFactory(), strategy="fifo", status=JobStatus.RUNNING, heartbeat_at=timezone.now()
    )

    assert scoring_jobs_reap_stale() == 2

    lost.refresh_from_db()
    unpicked.refresh_from_db()
    alive.refresh_from_db()
    assert (lost.status, unpicked.status, alive.status) == (JobStatus.FAILED, JobStatus.FAILED, JobStatus.RUNNING)
    assert "stopped reporting progress" in lost.error
