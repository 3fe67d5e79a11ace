"""The one place that reads the process environment.

Settings modules import ``env`` and the helpers below; nothing else in the code base calls
``os.environ`` for configuration. Values are read when a settings module is imported (once per
process), never by application code at import time.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def data_dir() -> Path:
    """Folder for the embedded defaults (SQLite file, file-system broker, uploads, exports)."""
    path = Path(env.str("LOOP_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def local_secret_key(folder: Path) -> str:
    """A per-checkout secret for local runs: generated once, kept outside git, never a default."""
    key_file = folder / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
