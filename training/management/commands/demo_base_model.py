"""Build the embedded demo's tiny base model and register it for the demo projects (run after bootstrap)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from training.services.demo import demo_base_model_ensure


class Command(BaseCommand):
    help = "Build a tiny offline base model under MEDIA_ROOT/checkpoints and register it for the demo projects."

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoints = demo_base_model_ensure()
        if not checkpoints:
            self.stdout.write("No demo projects found: run `manage.py bootstrap` first.")
        for checkpoint in checkpoints:
            self.stdout.write(f"Base checkpoint ready for {checkpoint.project.name}: {checkpoint.path}")
