"""Smoke test of the one-command default: SQLite + file-system broker, no server installed.

It migrates, bootstraps, starts ``runstack`` (web + worker + beat), signs in over HTTP with the
printed credentials, and round-trips a task through the real worker process.
"""

from __future__ import annotations

import http.cookiejar
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from tests.conftest import ROOT, clean_env, run_python

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def test_embedded_default_serves_login_signs_in_and_runs_a_task(tmp_path):
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", LOOP_DATA_DIR=str(tmp_path))
    manage = [sys.executable, "manage.py"]
    migrate = subprocess.run(
        [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert migrate.returncode == 0, migrate.stderr
    boot = subprocess.run([*manage, "bootstrap"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert boot.returncode == 0, boot.stderr
    password = re.search(r"password: (\S+)", boot.stdout).group(1)

    port = free_port()
    stack = subprocess.Popen(
        [*manage, "runstack", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(f"{base}/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        body = urllib.parse.urlencode({"username": "admin", "password": password, "csrfmiddlewaretoken": token})
        home = opener.open(
            urllib.request.Request(
                f"{base}/accounts/login/", data=body.encode(), headers={"Referer": f"{base}/accounts/login/"}
            )
        )
        assert home.geturl() == f"{base}/"
        assert "Demo · pairwise comparison" in home.read().decode()

        code = "import django; django.setup(); from core.tasks import ping; print(ping.delay().get(timeout=60))"
        result = run_python(code, env=env, timeout=90)
        assert result.returncode == 0, result.stderr
        assert "'database': 'sqlite'" in result.stdout
        assert "'users': 1" in result.stdout
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            output = stack.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            stack.kill()
            output = stack.communicate()[0]
    assert "Serving on" in output
