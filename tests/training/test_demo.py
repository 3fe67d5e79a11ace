"""The embedded demo's base model: built offline once, registered for every demo project."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from annotation.demo import DEMOS, demo_seed
from models_registry.models import Checkpoint, checkpoints_root
from models_registry.services import checkpoint_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_demo_base_model_is_built_once_and_registered_for_each_demo_project(media):
    demo_seed(owner=UserFactory(is_superuser=True))
    out = io.StringIO()
    call_command("demo_base_model", stdout=out)
    checkpoints = list(Checkpoint.objects.all())
    assert len(checkpoints) == len(DEMOS)
    assert {c.location for c in checkpoints} == {"base/tiny-demo"}
    assert {c.kind for c in checkpoints} == {"policy"}
    assert "Tiny demo model" in checkpoints[0].name
    assert (checkpoints_root() / "base" / "tiny-demo" / "model.safetensors").is_file()
    checkpoint_verify(checkpoint=checkpoints[0])
    assert out.getvalue().count("Base checkpoint ready") == len(DEMOS)

    call_command("demo_base_model", stdout=io.StringIO())  # again: nothing new
    assert Checkpoint.objects.count() == len(DEMOS)


def test_without_demo_projects_it_says_what_to_run_first(media):
    out = io.StringIO()
    call_command("demo_base_model", stdout=out)
    assert "run `manage.py bootstrap` first" in out.getvalue()
