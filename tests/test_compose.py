"""docker-compose.yml is validated without a Docker engine: schema, images, commands, variables."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = {
    line.split("=", 1)[0]
    for line in (ROOT / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
}


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_expected_services_exist():
    assert set(SERVICES) >= {"postgres", "redis", "web", "worker", "gpu-worker", "beat", "flower"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_or_an_existing_dockerfile(name):
    service = SERVICES[name]
    assert "image" in service or "build" in service
    if "build" in service:
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def _command(name: str) -> list[str]:
    command = SERVICES[name].get("command", [])
    return command if isinstance(command, list) else shlex.split(command)


@pytest.mark.parametrize("name", ["migrate", "web", "worker", "gpu-worker", "beat", "flower"])
def test_app_commands_point_at_code_that_exists(name):
    command = _command(name)
    if command[0] == "celery":
        assert command[1:3] == ["-A", "config"]
        assert (ROOT / "config" / "celery.py").is_file()
    elif command[0] == "gunicorn":
        module, attr = command[1].split(":")
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        assert f"{attr} =" in source
    else:
        assert command[:2] == ["python", "manage.py"]


def test_gpu_worker_takes_one_task_at_a_time_on_the_gpu_queue_with_a_gpu():
    command = _command("gpu-worker")
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("-c") + 1] == "1"
    assert command[command.index("--prefetch-multiplier") + 1] == "1"
    devices = SERVICES["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "cuda" in (ROOT / "docker" / "gpu.Dockerfile").read_text().lower()
    assert _command("worker")[_command("worker").index("-Q") + 1] == "default"


def test_every_variable_is_documented_in_env_example():
    referenced = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    read_by_settings = set()
    for path in (ROOT / "config").rglob("*.py"):
        read_by_settings |= set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', path.read_text()))
    read_by_settings -= {"DJANGO_DEBUG"}  # local settings only
    missing = (referenced | read_by_settings) - ENV_EXAMPLE
    assert not missing, f"not in .env.example: {sorted(missing)}"


def test_env_example_holds_no_secret_values():
    for line in (ROOT / ".env.example").read_text().splitlines():
        if any(word in line for word in ("SECRET_KEY=", "PASSWORD=", "BASIC_AUTH=")):
            assert line.endswith("="), line
