"""Shared set-up for tests that drive Debian's Chromium through Playwright."""

from __future__ import annotations

import os

import playwright.sync_api as playwright_sync
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


def sign_in(page, live_server, user, next_path="/"):
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def counts_as_error(message) -> bool:
    """A console message that fails a browser test (CSP violations are console errors too)."""
    # The browser asks for /favicon.ico on its own; that is not the page's fault.
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page whose test fails on any console error or uncaught exception."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if counts_as_error(m) else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield page
    context.close()
    assert problems == []
