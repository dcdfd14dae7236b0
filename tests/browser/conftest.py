"""Fixtures for the real-browser tests: a recorded SQLite file, ``kern serve`` on it
as a subprocess, and Debian's chromium driven by Playwright.

Every test here is marked ``browser`` (and ``slow``: it spawns processes). When
chromium or Playwright is missing the tests skip locally, with the reason, and
fail under CI (``CI`` set), where .ci/run installs chromium first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.recorded import Recorded, record
from tests.browser.server import serving

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser/ ``browser`` and ``slow``."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run the browser tests: .ci/run installs chromium)")
    pytest.skip(message)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (never a downloaded browser).

    Package-scoped: Playwright's sync API runs an event loop in the main thread while
    it is started, so it must stop before any later test calls asyncio.run."""
    if not Path(CHROMIUM).is_file():
        _missing(f"no chromium at {CHROMIUM}: apt-get install chromium to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        _missing("Playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The sessions of tests/browser/recorded.py, in a new SQLite file."""
    return record(tmp_path_factory.mktemp("browser") / "sessions.db")


@pytest.fixture(scope="session")
def admin_url(recorded: Recorded) -> Iterator[str]:
    """``kern serve --admin`` on the recorded file: every user's sessions."""
    with serving(recorded.db_file, "--admin") as url:
        yield url


@pytest.fixture
def page(browser: Any, screenshots: Path) -> Iterator[Any]:
    """A new browser page; the test fails if a script on it raised or the console
    logged an error (a failed request, a content security policy violation)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    yield opened
    context.close()
    assert errors == [], f"the page reported errors: {errors}"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/images with KERN_SCREENSHOTS=1, else the test's tmp dir."""
    if os.environ.get("KERN_SCREENSHOTS") == "1":
        return ROOT / "docs" / "images"
    return tmp_path
