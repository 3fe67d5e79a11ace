"""First-run set-up: the first admin (generated password, printed once) and the demo projects."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotation.demo import demo_seed
from core.services import admin_ensure


class Command(BaseCommand):
    help = "Create the first admin with a generated password and seed the demo projects. Safe to re-run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo projects.")

    def handle(self, *args: Any, **options: Any) -> None:
        created = admin_ensure(username=options["admin_username"])
        if created.password is not None:
            self.stdout.write(self.style.SUCCESS("Created the first admin. This password is shown once:"))
            self.stdout.write(f"  username: {created.user.username}\n  password: {created.password}")
        else:
            self.stdout.write(
                f"Admin '{created.user.username}' already exists (forgot the password? manage.py changepassword)."
            )
        if not options["no_demo"]:
            for project in demo_seed(owner=created.user):
                self.stdout.write(f"Demo project ready: {project.name}")
