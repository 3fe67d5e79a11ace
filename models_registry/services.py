"""Registering checkpoints: the final model of a training run, or an external base model directory.

The recorded hashes cover every file of the folder (weights, config, tokenizer), so the folder that is
loaded later is byte for byte the one that was registered. Nothing here imports torch at module level:
``checkpoint_register_from_run`` and ``checkpoint_verify`` run in the Celery supervisor, which must never
touch CUDA, so they check folders with ``ml.verify`` (standard library only), the same rules the
loading child applies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import transaction

from core.models import Project
from ml.manifest import MANIFEST_NAME, manifest_hashes, read_manifest, sha256_of
from ml.verify import CheckpointRefused, verify_checkpoint
from models_registry.models import Checkpoint, CheckpointKind, checkpoints_root

if TYPE_CHECKING:
    from training.models import TrainingRun


class CheckpointInvalid(ValueError):
    """The folder cannot be registered or loaded; the message says why."""


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _check_folder(folder: Path, expected: dict[str, str]) -> None:
    """Safetensors only, every weight file covered by ``expected``, every expected file matching.

    ``ml.verify`` holds the rules (the loading child applies the same ones); it imports no torch.
    """
    try:
        verify_checkpoint(folder, expected)
    except CheckpointRefused as exc:
        raise CheckpointInvalid(str(exc)) from exc


def checkpoint_verify(*, checkpoint: Checkpoint) -> None:
    """Raise CheckpointInvalid unless the checkpoint's folder still matches its recorded hashes."""
    _check_folder(checkpoint.path, dict(checkpoint.sha256))


def _location(folder: Path) -> str:
    """Relative to the checkpoints root when inside it (the data folder can move), else absolute."""
    root = checkpoints_root()
    if os.path.commonpath([root, folder]) == str(root):
        return folder.relative_to(root).as_posix()
    return str(folder)


def checkpoint_register_from_run(*, run: TrainingRun, model_dir: Path) -> Checkpoint:
    """Move run ``run``'s final model into the registry, check it against its manifest, record it.

    Precondition: the caller holds the run (status running, its attempt), so nobody else registers it
    concurrently. Idempotent: a run that already has its checkpoint gets that one back. The folder moves
    to ``<checkpoints root>/<project>/run-<id>``; the manifest's paths are relative, so it stays valid.
    """
    existing = Checkpoint.objects.filter(run=run).first()
    if existing is not None:
        return existing
    destination = checkpoints_root() / str(run.project_id) / f"run-{run.pk}"
    source = Path(os.path.realpath(model_dir))
    if source != destination:
        if destination.exists():
            shutil.rmtree(destination)  # left by a registration cut short; this attempt owns the run
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, destination)  # a rename on one filesystem
    manifest = read_manifest(destination)
    if manifest is None:
        raise CheckpointInvalid(f"{destination} has no {MANIFEST_NAME}; the run did not finish its save.")
    hashes = manifest_hashes(manifest)
    _check_folder(destination, hashes)
    kind = CheckpointKind.REWARD if run.kind == "reward" else CheckpointKind.POLICY
    metrics: Any = manifest.get("metrics") or {}
    return Checkpoint.objects.create(
        project_id=run.project_id,
        kind=kind,
        name=f"{run.get_kind_display()} · run {run.pk}",
        run=run,
        snapshot_id=run.snapshot_id,
        location=_location(destination),
        sha256=hashes,
        manifest=manifest,
        metrics=metrics if isinstance(metrics, dict) else {},
        created_by_id=run.created_by_id,
    )


@transaction.atomic
def checkpoint_register_base(*, project: Project, kind: str, directory: Path | str, name: str) -> Checkpoint:
    """Register a local model folder (the first policy or reward backbone) for ``project``.

    Refused (CheckpointInvalid) unless it holds a ``config.json`` and safetensors weights and no pickle,
    and, when it carries an ml manifest, every file matches it. Hashes of every file are recorded now,
    so later edits on disk are caught. Registering the same unchanged folder again returns the same row.
    """
    if kind not in CheckpointKind.values:
        raise CheckpointInvalid(f"kind must be one of {', '.join(CheckpointKind.values)}.")
    name = name.strip()
    if not name or len(name) > 200:
        raise CheckpointInvalid("give the checkpoint a name of 1 to 200 characters.")
    folder = Path(os.path.realpath(directory))
    try:
        manifest = verify_checkpoint(folder)
    except CheckpointRefused as exc:
        raise CheckpointInvalid(str(exc)) from exc
    if not (folder / "config.json").is_file():
        raise CheckpointInvalid(f"{folder} is not a model directory (no config.json).")
    if manifest is not None:
        hashes = manifest_hashes(manifest)
    else:
        hashes = {p.relative_to(folder).as_posix(): sha256_of(p) for p in _files(folder)}
    location = _location(folder)
    existing = Checkpoint.objects.filter(project=project, run=None, kind=kind, location=location).first()
    if existing is not None and existing.sha256 == hashes:
        return existing
    return Checkpoint.objects.create(
        project=project,
        kind=kind,
        name=name,
        location=location,
        sha256=hashes,
        manifest=manifest or {},
        metrics=(manifest or {}).get("metrics") or {},
    )
