from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The Chromium fixtures, for every browser test under tests/ (one place, one set of timeouts).
from tests.browser import browser, page  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def run_python(
    code: str, *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this venv, in the repository root."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any of our configuration variables, plus ``overrides``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "LOOP_")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(overrides)
    return env


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory()
