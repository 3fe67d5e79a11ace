"""A project ready to train: judged items, a built snapshot, a registered tiny base model, an admin."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Membership, Project, Role, User
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.models import Checkpoint
from models_registry.services import checkpoint_register_base
from tests.curation.judging import judged_project
from tests.factories import MembershipFactory

# Few steps, logged and evaluated often: the curves and the history have points to assert on.
SMOKE = {
    "device": "cpu",
    "max_steps": 6,
    "batch_size": 2,
    "learning_rate": 1e-3,
    "max_length": 128,
    "logging_steps": 1,
    "save_steps": 2,
    "eval_fraction": 0.25,
}


@dataclass
class Ready:
    project: Project
    admin: User
    researcher: User
    annotator: User
    annotators: list[User]
    snapshot: DatasetSnapshot
    base: Checkpoint


def ready_project(base_dir, *, items=6, options=None) -> Ready:
    project, annotators, researcher = judged_project("pairwise", items=items, annotators=2)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    snapshot = snapshot_create(
        project=project, user=researcher, name="train", filters={}, options=options or {"file_format": "jsonl"}
    )
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    assert snapshot.status == SnapshotStatus.SUCCEEDED, snapshot.error
    base = checkpoint_register_base(project=project, kind="policy", directory=base_dir, name="tiny base")
    assert Membership.objects.filter(project=project, user=admin, role=Role.ADMIN).exists()
    return Ready(project, admin, researcher, annotators[0], annotators, snapshot, base)
