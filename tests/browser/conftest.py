"""Shared fixtures for the browser tests: Debian's Chromium driven by Playwright against
pytest-django's live_server.

Run them with `make browser` done once (installs chromium and fonts-wqy-microhei) and
`pytest -m browser`. They skip, rather than fail, where Chromium or Playwright is missing,
except in CI (CI set), where that fails them.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from accounts.models import Role

# Playwright's sync API runs an event loop in the test's thread; Django would then refuse
# the test's own (synchronous) database calls. The live server runs in its own thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
# No network chatter, no GPU in containers, no sandbox (tests run as root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots go to docs/ only when asked (SAVE_SCREENSHOTS=1), so a test run never
# dirties the working tree.
DOCS = Path(__file__).resolve().parents[2] / "docs"


def save_screenshots() -> bool:
    return os.environ.get("SAVE_SCREENSHOTS", "") in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    missing = f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium fonts-wqy-microhei)"
    if os.environ.get("CI"):
        # In CI a missing browser is a broken set-up, not a reason to pass without these tests.
        from playwright import sync_api

        assert Path(CHROMIUM).exists(), missing
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
        if not Path(CHROMIUM).exists():
            pytest.skip(missing)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_page(browser, live_server, role_groups) -> Iterator[object]:
    """A fresh page (own cookies) in a Chinese locale at a laptop's size."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def role_groups(transactional_db) -> None:
    # live_server needs a transactional database, which is flushed after each test: the
    # role groups that the data migration created are gone for the next browser test.
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def login(page, live_server, username: str, password: str) -> None:
    """Sign in through the login form, as a person does, and wait to land past it."""
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
