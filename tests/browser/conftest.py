"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server and the sandbox.

Playwright's sync API runs an event loop in the test's thread while a browser is open, and Django refuses ORM
calls from such a thread (SynchronousOnlyOperation). So: set up data first, open the browser with
`open_browser()` inside the test, and run any ORM call made while it is open through `in_thread()`.
"""
from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings as django_settings
from django.db import close_old_connections
from django.test import Client

CHROMIUM = os.environ.get("KITE_DESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Written on every run; outside the tracked tree (docs/ holds the copies the README shows).
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"))
WIDTHS = {1280: 800, 390: 844}  # laptop and phone viewports (width: height)
T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests, saying how to enable them, where Chromium or Playwright is missing."""
    reason = None
    if not Path(CHROMIUM).exists():
        reason = (f"No Chromium at {CHROMIUM}: install it (`apt-get install chromium`) to run the browser tests, "
                  "or point KITE_DESK_CHROMIUM at another Chromium binary.")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright is not installed: `pip install -e '.[test]'` to run the browser tests."
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@contextmanager
def open_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an ORM call on another thread (no event loop there), closing its database connection after."""
    def run() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=60)


def screenshot(page: Any, name: str) -> None:
    """Save the page at each width (artifacts/screenshots/<name>-<width>.png), then go back to the laptop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True, animations="disabled")
    page.set_viewport_size({"width": 1280, "height": WIDTHS[1280]})


def session_cookie(user: Any, base_url: str) -> dict[str, Any]:
    """A signed-in session for `user`, as a cookie for the browser (made with the ORM: call before the browser)."""
    client = Client()
    client.force_login(user)
    value = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return {"name": django_settings.SESSION_COOKIE_NAME, "value": value, "url": base_url}


@pytest.fixture
def app_url(live_server, kite_settings, settings) -> str:
    """The live server's URL, also as APP_BASE_URL: the sandbox's login redirects back to it.

    Sandbox apps are created with APP_BASE_URL + "/kite/callback", so accounts must be made after this.
    """
    settings.APP_BASE_URL = live_server.url
    return live_server.url
