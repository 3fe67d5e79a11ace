"""Checking a model folder before anything loads it: safetensors only, every file matching its sha256.

Standard library only (no torch, no transformers), so the Celery supervisor and the web process apply
exactly the rules the loading child applies: ``ml.checkpoints.load_checkpoint`` calls this first, and the
registry calls it before it hands a folder to a child.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ml.manifest import MANIFEST_NAME, PICKLE_SUFFIXES, WEIGHT_SUFFIX, manifest_hashes, read_manifest, sha256_of


class CheckpointRefused(Exception):
    """The folder is not a checkpoint we are willing to load; the message says why."""


def verify_checkpoint(folder: Path, expected_sha256: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Refuse pickles, missing weights and hash mismatches; return the manifest (None if there is none).

    Hashes checked: ``expected_sha256`` (relative path -> sha256, from the registry) when given, otherwise
    the manifest's. Every ``.safetensors`` file must be covered, so an extra weight file cannot slip in.
    Without either (a base model that never went through training here) only the format is checked.
    """
    if not folder.is_dir():
        raise CheckpointRefused(f"{folder} is not a folder.")
    files = [p for p in folder.rglob("*") if p.is_file()]
    pickles = sorted(p.relative_to(folder).as_posix() for p in files if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointRefused(f"{folder} holds pickled files ({', '.join(pickles)}); only safetensors are loaded.")
    weights = sorted(p.relative_to(folder).as_posix() for p in files if p.name.endswith(WEIGHT_SUFFIX))
    if not weights:
        raise CheckpointRefused(f"{folder} has no .safetensors weights.")
    manifest = read_manifest(folder)
    expected = dict(expected_sha256) if expected_sha256 is not None else None
    if expected is None and manifest is not None:
        expected = manifest_hashes(manifest)
    if expected is None:
        return None
    unlisted = [w for w in weights if w not in expected]
    if unlisted:
        raise CheckpointRefused(f"{folder}: weight file(s) {', '.join(unlisted)} are not in the recorded hashes.")
    for relative, digest in sorted(expected.items()):
        if relative == MANIFEST_NAME:
            continue
        path = folder / relative
        if not path.is_file():
            raise CheckpointRefused(f"{folder}: {relative} is recorded but missing.")
        if sha256_of(path) != digest:
            raise CheckpointRefused(f"{folder}: {relative} does not match its recorded sha256; refusing to load it.")
    return manifest
