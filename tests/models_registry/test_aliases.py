"""Aliases with history (promote, roll back, who and when) and the reward model's eval gate."""

from __future__ import annotations

import pytest

from core.models import AuditEvent
from models_registry.aliases import (
    AliasError,
    GateOutcome,
    alias_checkpoint,
    alias_promote,
    alias_rollback,
    loop_settings_get,
    reward_gate_decide,
)
from models_registry.models import AliasEvent, AliasEventKind, AliasName, Checkpoint
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def reward(project, name, accuracy, *, eval_sha="e1", source="file", kind="reward"):
    manifest = {
        "data": {"eval_source": source, "eval_sha256": eval_sha if source == "file" else None, "train_sha256": "t1"},
        "config": {"eval_fraction": 0.1},
        "gate_metric": {"name": "heldout_accuracy", "higher_is_better": True},
    }
    metrics = {} if accuracy is None else {"heldout_accuracy": accuracy}
    return Checkpoint.objects.create(
        project=project, kind=kind, name=name, location=f"/x/{name}", manifest=manifest, metrics=metrics
    )


def test_promote_and_rollback_keep_a_history_of_who_and_when():
    project, admin = ProjectFactory(), UserFactory()
    a, b, c = (reward(project, n, 0.6) for n in "abc")
    for checkpoint in (a, b, c):
        alias_promote(actor=admin, checkpoint=checkpoint)
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == c

    alias_rollback(actor=admin, project=project, name=AliasName.ACTIVE_REWARD)
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == b
    alias_rollback(actor=admin, project=project, name=AliasName.ACTIVE_REWARD)  # further back, not ping-pong
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == a
    with pytest.raises(AliasError, match="nothing to roll back to"):
        alias_rollback(actor=admin, project=project, name=AliasName.ACTIVE_REWARD)

    history = list(AliasEvent.objects.filter(project=project).order_by("pk"))
    assert [(e.kind, e.checkpoint.name, e.previous and e.previous.name) for e in history] == [
        ("promote", "a", None),
        ("promote", "b", "a"),
        ("promote", "c", "b"),
        ("rollback", "b", "c"),
        ("rollback", "a", "b"),
    ]
    assert all(e.actor == admin and e.created_at for e in history)
    actions = list(AuditEvent.objects.filter(project=project).values_list("action", flat=True))
    assert actions.count("models_registry.promote") == 3
    assert actions.count("models_registry.rollback") == 2
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_POLICY) is None


def test_promoting_the_active_checkpoint_again_is_refused():
    project = ProjectFactory()
    a = reward(project, "a", 0.6)
    alias_promote(actor=None, checkpoint=a)
    with pytest.raises(AliasError, match="already"):
        alias_promote(actor=None, checkpoint=a)


def test_the_first_reward_model_with_a_heldout_accuracy_is_promoted_by_the_gate():
    project = ProjectFactory()
    first = reward(project, "first", 0.6)
    assert reward_gate_decide(checkpoint=first).outcome == GateOutcome.PROMOTED
    event = AliasEvent.objects.get(project=project)
    assert event.kind == AliasEventKind.AUTO_PROMOTE
    assert event.actor is None


@pytest.mark.parametrize(
    ("accuracy", "margin", "outcome"),
    [(0.8, 0.0, GateOutcome.PROMOTED), (0.7, 0.0, GateOutcome.PROMOTED), (0.65, 0.0, GateOutcome.HELD),
     (0.65, 0.05, GateOutcome.PROMOTED), (0.6, 0.05, GateOutcome.HELD)],
)  # fmt: skip
def test_the_gate_promotes_only_a_model_not_worse_than_the_active_one(accuracy, margin, outcome):
    project = ProjectFactory()
    settings = loop_settings_get(project=project)
    settings.gate_margin = margin
    settings.save()
    active = reward(project, "active", 0.7)
    alias_promote(actor=None, checkpoint=active)
    new = reward(project, "new", accuracy)

    decision = reward_gate_decide(checkpoint=new)

    assert decision.outcome == outcome
    expected = new if outcome == GateOutcome.PROMOTED else active
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == expected
    if outcome == GateOutcome.HELD:
        hold = AliasEvent.objects.get(project=project, kind=AliasEventKind.GATE_HOLD)
        assert hold.checkpoint == new
        assert "worse than active" in hold.reason


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"eval_sha": "other"}, "held-out sets differ"), ({"source": "none"}, "held-out sets differ"),
     ({"accuracy": None}, "has no heldout_accuracy")],
)  # fmt: skip
def test_a_model_that_cannot_be_compared_waits_for_an_admin_with_the_reason(kwargs, reason):
    project = ProjectFactory()
    active = reward(project, "active", 0.5)
    alias_promote(actor=None, checkpoint=active)
    new = reward(project, "new", **{"accuracy": 0.9, **kwargs})

    decision = reward_gate_decide(checkpoint=new)

    assert decision.outcome == GateOutcome.HELD
    assert reason in decision.reason
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == active
    assert AliasEvent.objects.get(kind=AliasEventKind.GATE_HOLD, project=project).reason == decision.reason


def test_policies_are_not_gated():
    project = ProjectFactory()
    policy = reward(project, "p", 0.9, kind="policy")
    assert reward_gate_decide(checkpoint=policy).outcome == GateOutcome.NOT_APPLICABLE
    assert not AliasEvent.objects.filter(project=project).exists()


@pytest.fixture(scope="module")
def split_manifest(tmp_path_factory, tiny_base_dir):
    """The manifest of a real reward run whose held-out set is a split of its train file."""
    from ml.config import RewardRunConfig
    from ml.manifest import read_manifest
    from ml.train import train_reward
    from tests.ml.conftest import preference_rows, write_jsonl

    root = tmp_path_factory.mktemp("split")
    config = RewardRunConfig(
        model_dir=str(tiny_base_dir),
        train_file=str(write_jsonl(root / "train.jsonl", preference_rows(16))),
        output_dir=str(root / "out"),
        max_steps=1,
        batch_size=4,
        max_length=64,
        eval_fraction=0.5,
        device="cpu",
        progress_file=str(root / "progress.jsonl"),
    )
    return read_manifest(train_reward(config).model_dir)


@pytest.mark.slow
def test_the_gate_compares_runs_evaluated_on_the_same_split_of_the_same_file(split_manifest):
    project = ProjectFactory()
    assert split_manifest["data"]["eval_source"] == "split"
    accuracy = split_manifest["metrics"]["heldout_accuracy"]

    def register(name, manifest, value):
        return Checkpoint.objects.create(
            project=project, kind="reward", name=name, location=f"/x/{name}", manifest=manifest,
            metrics={**manifest["metrics"], "heldout_accuracy": value},
        )  # fmt: skip

    alias_promote(actor=None, checkpoint=register("active", split_manifest, accuracy))
    assert reward_gate_decide(checkpoint=register("same", split_manifest, accuracy)).outcome == GateOutcome.PROMOTED
    other_file = {**split_manifest, "data": {**split_manifest["data"], "train_sha256": "0" * 64}}
    held = reward_gate_decide(checkpoint=register("other", other_file, 1.0))
    assert held.outcome == GateOutcome.HELD
    assert "held-out sets differ" in held.reason


@pytest.mark.parametrize(
    ("baseline", "compared_with_active", "outcome"),
    [(0.6, True, GateOutcome.PROMOTED), (0.75, True, GateOutcome.HELD), (0.6, False, GateOutcome.HELD)],
)
def test_on_different_held_out_sets_the_gate_uses_the_active_models_score_on_the_new_runs_set(
    baseline, compared_with_active, outcome
):
    """A new snapshot means a new held-out set; the training child scored the active model on it too."""
    project = ProjectFactory()
    active = reward(project, "active", 0.95, eval_sha="old-set")  # its own, easier set: not comparable
    alias_promote(actor=None, checkpoint=active)
    new = reward(project, "new", 0.7, eval_sha="new-set")
    new.metrics["baseline_heldout_accuracy"] = baseline
    new.manifest["config"]["compare_model_dir"] = str(active.path) if compared_with_active else "/x/someone-else"
    new.save()

    decision = reward_gate_decide(checkpoint=new)

    assert decision.outcome == outcome
    if compared_with_active:
        assert "held-out set" in decision.reason
        assert f"{baseline:.4f}" in decision.reason
    else:
        assert "held-out sets differ" in decision.reason  # scored against a model that is no longer active
