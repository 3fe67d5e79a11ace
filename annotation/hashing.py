"""Content hashes for de-duplication: stable across key order and whitespace-equal JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# One encoder for the process: json.dumps with options builds a new JSONEncoder per call, a visible share
# of an import's CPU at a million rows.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(value: Any) -> str:
    canonical = _CANONICAL.encode(value)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
