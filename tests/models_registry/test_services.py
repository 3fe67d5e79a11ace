"""The checkpoint registry: safetensors only, hashes of every file recorded, tampering refused."""

from __future__ import annotations

import shutil

import pytest

from ml.manifest import write_manifest
from models_registry.models import Checkpoint, UnsafeLocationError, checkpoints_root
from models_registry.services import (
    CheckpointInvalid,
    checkpoint_register_base,
    checkpoint_register_from_run,
    checkpoint_verify,
)
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def fake_model(folder, *, manifest=False, extra=None):
    """The files of a model folder; the weights need not load for registration, only hash."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tokenizer.json").write_text("{}")
    for name, data in (extra or {}).items():
        (folder / name).write_bytes(data)
    if manifest:
        write_manifest(folder, kind="reward", metrics={"heldout_accuracy": 0.75})
    return folder


def test_a_base_model_is_registered_with_the_hash_of_every_file(media, tmp_path):
    project = ProjectFactory()
    folder = fake_model(tmp_path / "base")
    checkpoint = checkpoint_register_base(project=project, kind="policy", directory=folder, name="base")
    assert checkpoint.location == str(folder.resolve())  # outside the root: absolute
    assert set(checkpoint.sha256) == {"config.json", "model.safetensors", "tokenizer.json"}
    assert checkpoint.is_base
    assert checkpoint.path == folder.resolve()
    # The same unchanged folder again: the same row.
    assert checkpoint_register_base(project=project, kind="policy", directory=folder, name="base") == checkpoint
    checkpoint_verify(checkpoint=checkpoint)


def test_a_folder_inside_the_root_is_stored_relative(media):
    folder = fake_model(checkpoints_root() / "base" / "tiny")
    checkpoint = checkpoint_register_base(project=ProjectFactory(), kind="policy", directory=folder, name="tiny")
    assert checkpoint.location == "base/tiny"


@pytest.mark.parametrize(
    ("extra", "remove", "message"),
    [
        ({"pytorch_model.bin": b"pickle"}, None, "pickled files"),
        ({}, "model.safetensors", "no .safetensors weights"),
        ({}, "config.json", "no config.json"),
    ],
)
def test_unsafe_base_folders_are_refused(media, tmp_path, extra, remove, message):
    folder = fake_model(tmp_path / "base", extra=extra)
    if remove:
        (folder / remove).unlink()
    with pytest.raises(CheckpointInvalid, match=message):
        checkpoint_register_base(project=ProjectFactory(), kind="policy", directory=folder, name="base")
    assert not Checkpoint.objects.exists()


def test_tampering_after_registration_is_refused(media, tmp_path):
    folder = fake_model(tmp_path / "base")
    checkpoint = checkpoint_register_base(project=ProjectFactory(), kind="reward", directory=folder, name="base")
    (folder / "extra.safetensors").write_bytes(b"smuggled")
    with pytest.raises(CheckpointInvalid, match="not in the recorded hashes"):
        checkpoint_verify(checkpoint=checkpoint)
    (folder / "extra.safetensors").unlink()
    (folder / "config.json").write_text('{"architectures": ["Other"]}')
    with pytest.raises(CheckpointInvalid, match=r"config\.json does not match"):
        checkpoint_verify(checkpoint=checkpoint)


def test_a_relative_location_cannot_leave_the_root(media):
    checkpoint = Checkpoint(location="../../etc")
    with pytest.raises(UnsafeLocationError):
        _ = checkpoint.path


def test_a_run_output_moves_into_the_registry_once(media, tmp_path, tiny_base_dir):
    from tests.training.ready import SMOKE, ready_project
    from training.services.runs import run_create

    ready = ready_project(tiny_base_dir)
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params=SMOKE,
    )
    final = fake_model(tmp_path / "out" / "final", manifest=True)
    checkpoint = checkpoint_register_from_run(run=run, model_dir=final)
    assert not final.exists()
    assert checkpoint.location == f"{ready.project.pk}/run-{run.pk}"
    assert checkpoint.metrics == {"heldout_accuracy": 0.75}
    assert (checkpoint.kind, checkpoint.snapshot, checkpoint.created_by) == ("reward", ready.snapshot, ready.admin)
    assert checkpoint_register_from_run(run=run, model_dir=final) == checkpoint  # idempotent


def test_a_run_output_that_does_not_match_its_manifest_is_refused(media, tmp_path, tiny_base_dir):
    from tests.training.ready import SMOKE, ready_project
    from training.services.runs import run_create

    ready = ready_project(tiny_base_dir)
    run = run_create(
        project=ready.project,
        user=ready.admin,
        kind="reward",
        snapshot=ready.snapshot,
        base_checkpoint=ready.base,
        params=SMOKE,
    )
    final = fake_model(tmp_path / "final", manifest=True)
    (final / "model.safetensors").write_bytes(b"changed after the manifest")
    with pytest.raises(CheckpointInvalid, match="does not match"):
        checkpoint_register_from_run(run=run, model_dir=final)
    shutil.rmtree(checkpoints_root(), ignore_errors=True)
    assert not Checkpoint.objects.filter(run=run).exists()
