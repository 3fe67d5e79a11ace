"""The manifest written beside every final model: what trained it, on what, and the hash of every file.

The registry stores the sha256 of each weight file from here; ``ml.checkpoints.load_checkpoint`` refuses
a folder whose files no longer match, so a checkpoint cannot be swapped on disk between training and use.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import ml
from ml.events import json_safe

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
WEIGHT_SUFFIX = ".safetensors"
# Anything torch.load or pickle would open. The final model folder must hold none of them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_files(folder: Path) -> list[dict[str, Any]]:
    """Every file under ``folder`` except the manifest, with its sha256 and size, sorted by path."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        relative = path.relative_to(folder).as_posix()
        entries.append(
            {
                "path": relative,
                "sha256": sha256_of(path),
                "bytes": path.stat().st_size,
                "weights": relative.endswith(WEIGHT_SUFFIX),
            }
        )
    return entries


def code_version() -> dict[str, str | None]:
    """``ml.__version__`` plus the deployed git commit when the deployment sets ``LOOP_CODE_VERSION``."""
    return {"ml": ml.__version__, "commit": os.environ.get("LOOP_CODE_VERSION") or None}


def library_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "safetensors"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def write_manifest(folder: Path, **content: Any) -> Path:
    """Write ``manifest.json`` into ``folder`` with ``content`` plus files, versions and a timestamp."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "libraries": library_versions(),
        **content,
        "files": list_files(folder),
    }
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(json_safe(manifest), indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object.")
    return data


def manifest_hashes(manifest: dict[str, Any]) -> dict[str, str]:
    return {entry["path"]: entry["sha256"] for entry in manifest.get("files", [])}
