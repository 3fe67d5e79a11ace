"""Ensemble-disagreement scoring and the active model's suggestion, with tiny reward models trained here.

Two members trained on opposite labels (good-over-bad and bad-over-good) disagree most on good-vs-bad pairs
and little on pairs of two good answers: the queue must serve the former first.
"""

from __future__ import annotations

import shutil

import pytest

from annotation.models import Item
from annotation.services.projects import item_create
from annotation.services.queue import assignment_claim_next
from ml.manifest import manifest_hashes, read_manifest
from models_registry.aliases import alias_promote, loop_settings_get
from models_registry.models import Checkpoint, JobStatus, PriorityStrategy
from models_registry.reward_scoring import disagreement_priority
from models_registry.scoring import ScoringRefused, scoring_job_create, scoring_job_execute
from models_registry.tasks import score_queue
from tests.factories import annotation_project
from tests.ml.conftest import BAD, GOOD, preference_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(score_queue, "delay_on_commit", sent.append)
    return sent


def _train(root, tiny_base_dir, rows):
    from ml.config import RewardRunConfig
    from ml.train import train_reward

    config = RewardRunConfig(
        model_dir=str(tiny_base_dir),
        train_file=str(write_jsonl(root / "train.jsonl", rows)),
        output_dir=str(root / "out"),
        max_steps=8,
        batch_size=4,
        learning_rate=5e-3,
        max_length=64,
        eval_fraction=0.0,
        device="cpu",
        progress_file=str(root / "progress.jsonl"),
    )
    result = train_reward(config)
    assert result.model_dir is not None
    return result.model_dir


@pytest.fixture(scope="module")
def members(tmp_path_factory, tiny_base_dir):
    """(likes good answers, likes bad answers): the same data with the labels swapped."""
    rows = preference_rows(24)
    flipped = [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in rows]
    return (
        _train(tmp_path_factory.mktemp("good"), tiny_base_dir, rows),
        _train(tmp_path_factory.mktemp("bad"), tiny_base_dir, flipped),
    )


def register(project, folder, name="rm"):
    manifest = read_manifest(folder)
    return Checkpoint.objects.create(
        project=project,
        kind="reward",
        name=name,
        location=str(folder),
        sha256=manifest_hashes(manifest),
        manifest=manifest,
    )


def pairwise_project(strategy, pairs):
    project, (annotator,) = annotation_project(items=0, randomise=False)
    for n, (a, b) in enumerate(pairs):
        item_create(project=project, prompt=f"Q{n}: tell me about the sun.", responses=[a, b])
    settings = loop_settings_get(project=project)
    settings.priority_strategy = strategy
    settings.save()
    return project, annotator


PAIRS = [(GOOD[0], BAD[0]), (GOOD[0], GOOD[1]), (BAD[1], GOOD[2]), (GOOD[1], GOOD[2]), (BAD[0], BAD[2])]


def p_first(folder, project):
    from ml.checkpoints import score_pairs
    from ml.scoring import PreferencePair

    items = Item.objects.filter(project=project).order_by("pk").prefetch_related("item_responses__response")
    pairs = [
        PreferencePair(i.prompt.messages[0]["content"], *(r.response.text for r in i.item_responses.all()))
        for i in items
    ]
    return dict(zip([i.pk for i in items], score_pairs(folder, pairs), strict=True))


@pytest.mark.parametrize(
    ("ps", "expected"),
    [([0.5, 0.5], 0.0), ([0.0, 1.0], 1.0), ([0.2, 0.8], 0.6), ([0.9, 0.9, 0.9], 0.0), ([0.3, 0.3, 0.9], 0.5657)],
)
def test_disagreement_is_twice_the_spread_of_the_members_probabilities(ps, expected):
    assert disagreement_priority(ps) == pytest.approx(expected, abs=1e-4)


def test_disagreement_needs_two_members():
    with pytest.raises(ValueError, match="at least two"):
        disagreement_priority([0.5])


@pytest.mark.slow
def test_the_ensemble_serves_the_pair_its_members_disagree_on_most_first(members):
    likes_good, likes_bad = members
    project, annotator = pairwise_project(PriorityStrategy.ENSEMBLE, PAIRS)
    older = register(project, likes_bad, "likes bad")
    active = register(project, likes_good, "likes good")
    alias_promote(actor=None, checkpoint=active)

    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.checkpoint_id, job.done, job.total) == (active.pk, 15, 15)  # 5 pairs x 2 members + 5 writes
    good, bad = p_first(likes_good, project), p_first(likes_bad, project)
    items = {i.pk: i for i in Item.objects.filter(project=project).prefetch_related("item_responses")}
    expected = {pk: disagreement_priority([good[pk], bad[pk]]) for pk in items}
    assert {pk: i.priority for pk, i in items.items()} == pytest.approx(expected, abs=1e-5)
    # More disagreement, higher priority: the opposite-label members split most on good-vs-bad pairs.
    by_priority = sorted(items, key=lambda pk: -items[pk].priority)
    assert set(by_priority[:2]) <= {
        pk for pk, (a, b) in zip(sorted(items), PAIRS, strict=True) if (a in GOOD) != (b in GOOD)
    }
    assert assignment_claim_next(annotator=annotator, project=project).assignment.item_id == by_priority[0]
    # The suggestion is the active model's, not the ensemble's.
    for pk, item in items.items():
        a, b = (ir.response_id for ir in item.item_responses.all())
        p = good[pk]
        assert item.suggestion == {
            "checkpoint": active.pk,
            "preferred": a if p >= 0.5 else b,
            "p": pytest.approx(max(p, 1 - p)),
        }
    assert older.pk != active.pk


@pytest.mark.slow
def test_the_ensemble_takes_the_active_and_the_newest_others_up_to_its_size(members, tmp_path):
    likes_good, likes_bad = members
    project, _ = pairwise_project(PriorityStrategy.ENSEMBLE, PAIRS[:2])
    settings = loop_settings_get(project=project)
    settings.ensemble_size = 2
    settings.save()
    stale = register(project, shutil.copytree(likes_bad, tmp_path / "stale"), "oldest")
    (stale.path / "model.safetensors").write_bytes(b"tampered, but outside the ensemble")
    active = register(project, likes_good, "active")
    alias_promote(actor=None, checkpoint=active)
    newest = register(project, shutil.copytree(likes_bad, tmp_path / "newest"), "newest")

    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error  # the oldest was never loaded

    before = dict(Item.objects.filter(project=project).values_list("pk", "priority"))
    weights = newest.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)
    assert job.status == JobStatus.FAILED
    assert "does not match its recorded sha256" in job.error
    assert dict(Item.objects.filter(project=project).values_list("pk", "priority")) == before


def test_the_ensemble_refuses_with_fewer_than_two_reward_checkpoints(members):
    likes_good, _ = members
    project, _ = pairwise_project(PriorityStrategy.ENSEMBLE, PAIRS[:1])
    alias_promote(actor=None, checkpoint=register(project, likes_good))
    with pytest.raises(ScoringRefused, match="at least 2 reward checkpoints and this project has 1"):
        scoring_job_create(project=project, actor=None)
    register(project, likes_good, "second")
    settings = loop_settings_get(project=project)
    settings.ensemble_size = 1
    settings.save()
    with pytest.raises(ScoringRefused, match="ensemble size is 1"):
        scoring_job_create(project=project, actor=None)


@pytest.mark.slow
def test_uncertainty_scoring_records_the_active_models_suggestion(members):
    _, likes_bad = members
    project, _ = pairwise_project(PriorityStrategy.UNCERTAINTY, PAIRS)
    active = register(project, likes_bad)
    alias_promote(actor=None, checkpoint=active)

    job = scoring_job_execute(job_id=scoring_job_create(project=project, actor=None).pk)

    assert job.status == JobStatus.SUCCEEDED, job.error
    p = p_first(likes_bad, project)
    for item in Item.objects.filter(project=project).prefetch_related("item_responses"):
        a, b = (ir.response_id for ir in item.item_responses.all())
        preferred = a if p[item.pk] >= 0.5 else b
        assert item.suggestion == {
            "checkpoint": active.pk,
            "preferred": preferred,
            "p": pytest.approx(max(p[item.pk], 1 - p[item.pk])),
        }
        assert item.suggestion["p"] >= 0.5
    # This model was trained to prefer bad answers, and its suggestion says so on a good-vs-bad pair.
    first = Item.objects.filter(project=project).order_by("pk").first()
    bad_response = next(ir.response_id for ir in first.item_responses.all() if ir.response.text in BAD)
    assert first.suggestion["preferred"] == bad_response
