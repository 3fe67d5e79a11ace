"""The Celery parent never loads torch: the training child owns the GPU (TRAINING-NOTES §5.2)."""

from __future__ import annotations

from tests.conftest import clean_env, run_python

CODE = """
import sys, django
django.setup()
from config.celery import app
app.loader.import_default_modules()  # what a worker imports at start: every app's tasks
import training.tasks, training.services.runs, training.services.supervisor, training.services.schedules
import training.launch, training.selectors, training.views.runs, models_registry.services
heavy = sorted(m for m in ("torch", "transformers", "trl", "datasets", "peft") if m in sys.modules)
print("heavy:", heavy)
"""


def test_the_supervisor_side_imports_no_torch():
    result = run_python(CODE, env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.test"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "heavy: []" in result.stdout, result.stdout
