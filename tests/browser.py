"""Shared set-up for tests that drive Debian's Chromium through Playwright.

``browser`` and ``page`` are fixtures for every test under ``tests/`` (``tests/conftest.py`` imports
them). ``page`` fails its test on any console error, which includes Content-Security-Policy
violations, and on any uncaught page error.

Waits: CI runs on two cores shared with a server, two workers and Postgres, so every wait is an
explicit condition (``expect``, ``wait_for``, ``expect_response``) with a generous timeout, never a
fixed sleep; ``TIMEOUT_MS`` is the default for all of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"  # tests.factories.UserFactory's password
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 30_000
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _counts(message) -> bool:
    # The browser may ask for /favicon.ico on its own: not the page's fault.
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


@pytest.fixture(scope="module")
def browser():
    import playwright.sync_api as playwright_sync

    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh context (no cookies) with a fixed viewport; any console or page error fails the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if _counts(m) else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.allowed_errors = []  # substrings of console errors a test expects (allow_console_error)
    yield page
    context.close()
    unexpected = [p for p in problems if not any(allowed in p for allowed in page.allowed_errors)]
    assert unexpected == [], "\n".join(unexpected)


def allow_console_error(page, text: str) -> None:
    """A console error containing ``text`` is expected (a refused request the test provokes)."""
    page.allowed_errors.append(text)


def sign_in(page, server, user, next_path="/"):
    """Sign in through the form; returns once the browser has left the sign-in page."""
    page.goto(f"{server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.wait_for_load_state("load")


def screenshot(page, name: str) -> Path:
    """Save ``docs/screenshots/<name>.png`` for the docs; the bytes may differ from the committed file."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path
