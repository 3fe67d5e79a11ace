"""Round the loop twice, on CPU, with tiny models and every real part (no Celery broker: task bodies are
called in order, as a gpu worker would run them).

judgments → snapshot → reward model trained and promoted by the gate → agreement with the humans checked;
→ DPO policy trained and promoted by an admin → the promotion starts a generation job → new items with
provenance → the reward model re-scores the queue → annotators claim and judge the new items → the
leaderboard ranks the policies; then the same again from the new judgments, with the gate comparing the
new reward model with the active one on the new run's held-out set. Lineage connects the two rounds.
"""

from __future__ import annotations

import uuid

import pytest

from annotation.models import Item, Judgment, Source
from annotation.services.queue import assignment_claim_next, judgment_submit
from curation.models import SnapshotStatus
from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.agreement import agreement_check_execute
from models_registry.aliases import alias_checkpoint, alias_promote, alias_rollback, loop_settings_get
from models_registry.generation import generation_job_execute
from models_registry.lineage import lineage_of
from models_registry.models import AliasEvent, AliasEventKind, AliasName, Checkpoint, JobStatus
from models_registry.models_jobs import AgreementCheck, GenerationJob, GenerationTrigger
from models_registry.scoring import scoring_job_execute
from models_registry.selectors_leaderboard import leaderboard_standings
from tests.training.ready import SMOKE, ready_project
from training.models import RunStatus
from training.services.runs import run_create, run_execute

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
GENERATION = {"num_samples": 2, "max_new_tokens": 8, "temperature": 1.0, "device": "cpu", "seed": 11}


def train(ready, kind, snapshot, base):
    run = run_create(
        project=ready.project, user=ready.admin, kind=kind, snapshot=snapshot, base_checkpoint=base, params=SMOKE
    )
    done = run_execute(run_id=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    return Checkpoint.objects.get(run=done)


def snapshot_now(ready, name):
    snapshot = snapshot_create(
        project=ready.project, user=ready.researcher, name=name, filters={}, options={"file_format": "jsonl"}
    )
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    assert snapshot.status == SnapshotStatus.SUCCEEDED, snapshot.error
    return snapshot


def prefer(newest):
    """Annotators who like the newest policy's answers (so the leaderboard has a clear order)."""

    def payload(item):
        links = list(item.item_responses.select_related("response").order_by("position"))
        ids = [link.response.source_detail.get("checkpoint_id") for link in links]
        winner = links[ids.index(newest.pk)] if newest.pk in ids else links[0]
        return {"outcome": "preferred", "preferred": winner.response_id, "strength": "better"}

    return payload


def judge_new_items(ready, items, payload):
    """Annotators claim through the real queue; the first claim of the round is the top-priority item."""
    first_claims = []
    for annotator in ready.annotators:
        while (assignment := assignment_claim_next(annotator=annotator, project=ready.project).assignment) is not None:
            if not first_claims or first_claims[-1][0] != annotator.pk:
                first_claims.append((annotator.pk, assignment.item_id))
            judgment_submit(
                annotator=annotator, project=ready.project, assignment_id=assignment.pk,
                payload=payload(assignment.item), client_key=uuid.uuid4().hex, time_spent_ms=900,
            )  # fmt: skip
    for item in Item.objects.filter(pk__in=[i.pk for i in items]):
        assert item.submitted_count == item.required, "every new item got its k judgments"
    return first_claims


def one_round(ready, enqueued, *, snapshot, reward_base, policy_base, previous_policy, number):
    project = ready.project
    # 1. Reward model from the humans' judgments; the gate decides (no human involved).
    reward = train(ready, "reward", snapshot, reward_base)
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == reward
    event = AliasEvent.objects.filter(project=project, checkpoint=reward).first()
    assert event.kind == AliasEventKind.AUTO_PROMOTE
    assert event.actor is None
    # ... and its agreement with the humans on the newest snapshot is measured.
    check = AgreementCheck.objects.get(checkpoint=reward)
    assert check.snapshot == snapshot
    assert check.pk in enqueued["check_agreement"]
    check = agreement_check_execute(check_id=check.pk)
    assert check.status == JobStatus.SUCCEEDED, check.error
    assert check.pairs > 0
    assert 0 <= check.agreed <= check.pairs

    # 2. A DPO policy from the same judgments, promoted by an admin: generation starts by itself.
    policy = train(ready, "dpo", snapshot, policy_base)
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_POLICY) == previous_policy  # not automatic
    alias_promote(actor=ready.admin, checkpoint=policy, reason=f"round {number}")
    job = GenerationJob.objects.get(project=project, checkpoint=policy)
    assert job.trigger == GenerationTrigger.PROMOTION
    assert job.baseline == previous_policy
    before = set(Item.objects.filter(project=project).values_list("pk", flat=True))
    job = generation_job_execute(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    items = list(Item.objects.filter(project=project).exclude(pk__in=before))
    assert len(items) == job.items_created > 0
    for item in items:
        details = [link.response.source_detail for link in item.item_responses.select_related("response")]
        assert {d["checkpoint_id"] for d in details} == {policy.pk, previous_policy.pk}
        assert all(link.response.source == Source.GENERATED for link in item.item_responses.all())

    # 3. The active reward model re-scores the open items (queued by the generation job).
    scoring_id = enqueued["score_queue"][-1]
    scoring = scoring_job_execute(job_id=scoring_id)
    assert scoring.status == JobStatus.SUCCEEDED, scoring.error
    assert scoring.checkpoint == reward
    priorities = dict(Item.objects.filter(pk__in=[i.pk for i in items]).values_list("pk", "priority"))
    assert all(0.0 <= p <= 1.0 for p in priorities.values())
    assert len(set(priorities.values())) > 1 or len(items) == 1, "the reward model ranked the new items"
    for item in Item.objects.filter(pk__in=[i.pk for i in items]):
        assert item.suggestion["checkpoint"] == reward.pk  # what annotators may be shown (off by default)

    # 4. Humans judge the new comparisons, most informative first.
    first_claims = judge_new_items(ready, items, prefer(policy))
    top = max(priorities.values())
    assert priorities[first_claims[0][1]] == top, "the first item served was the most uncertain one"
    return reward, policy


def test_round_the_loop_twice(media, fast_ticks, tiny_base_dir, enqueued):
    ready = ready_project(tiny_base_dir, items=8)
    project = ready.project
    alias_promote(actor=ready.admin, checkpoint=ready.base, reason="the first policy")
    loop = loop_settings_get(project=project)
    loop.generate_on_promotion = True
    loop.generation_params = GENERATION
    loop.generation_selection = "sample"
    loop.generation_prompt_limit = 4
    # Tiny models on a handful of pairs: accuracies are noisy. A wide margin makes the gate's outcome
    # certain here; that it compares on the same held-out pairs is what this test checks (the margin's
    # effect is tested in test_aliases).
    loop.gate_margin = 1.0
    loop.save()

    # Round 1: from the seed judgments.
    reward1, policy1 = one_round(
        ready, enqueued, snapshot=ready.snapshot, reward_base=ready.base, policy_base=ready.base,
        previous_policy=ready.base, number=1,
    )  # fmt: skip
    board = {s.name: s for s in leaderboard_standings(project=project)}
    assert {policy1.name, ready.base.name} <= set(board)

    # Round 2: a new snapshot holds round 1's new judgments; the new policy starts from the last one.
    snapshot2 = snapshot_now(ready, "round 2")
    reward2, policy2 = one_round(
        ready, enqueued, snapshot=snapshot2, reward_base=ready.base, policy_base=policy1,
        previous_policy=policy1, number=2,
    )  # fmt: skip
    promoted = AliasEvent.objects.filter(checkpoint=reward2, kind=AliasEventKind.AUTO_PROMOTE).get()
    assert promoted.previous == reward1
    assert "held-out set" in promoted.reason, "compared with the active model on the same held-out pairs"
    assert "baseline_heldout_accuracy" in reward2.metrics
    assert "baseline_heldout_accuracy" not in reward1.metrics  # nothing was active to compare with

    board = {s.name: s for s in leaderboard_standings(project=project)}
    assert {policy1.name, policy2.name, ready.base.name} <= set(board)
    assert board[policy2.name].battles > 0
    assert board[policy1.name].battles > 0
    # Annotators preferred the newest policy each round: policy 2 beat policy 1, which beat the base.
    assert board[policy2.name].rating > board[policy1.name].rating > board[ready.base.name].rating

    # Lineage: a round-2 judgment of policy 1's outputs leads back to the checkpoint that wrote them,
    # and policy 1 leads forward to those judgments.
    forward = lineage_of(project=project, kind="checkpoint", pk=policy1.pk)
    produced = {g.title: g for g in forward.downstream}
    assert produced["Generated responses"].total > 0
    judged = Judgment.objects.filter(
        project=project, item__item_responses__response__source_detail__checkpoint_id=policy1.pk
    )
    assert produced["Judgments of those items"].total == judged.distinct().count() > 0
    came_from = {g.title: g for g in forward.upstream}
    assert came_from["Snapshot"].nodes[0].pk == ready.snapshot.pk
    back = lineage_of(project=project, kind="judgment", pk=judged.order_by("pk").first().pk)
    in_snapshots = {n.pk for g in back.downstream if g.title.startswith("Snapshots") for n in g.nodes}
    assert snapshot2.pk in in_snapshots
    assert ready.snapshot.pk not in in_snapshots
    trained = {n.pk for g in back.downstream if g.title.startswith("Checkpoints") for n in g.nodes}
    assert {reward2.pk, policy2.pk} <= trained

    # Rollback walks the reward alias back to round 1's model.
    alias_rollback(actor=ready.admin, project=project, name=AliasName.ACTIVE_REWARD)
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == reward1
