from __future__ import annotations

import pytest


@pytest.fixture
def media(settings, tmp_path):
    """Snapshots are written under a per-test MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
