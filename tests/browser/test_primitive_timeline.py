"""The web timeline of a run whose steps ran inside step primitives, in a real browser:
the steps inside each primitive are shown under it, and each opens its step view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from kern.db.sqlite import SqliteDb
from kern.workflow import Loop, Parallel, Steps, Workflow
from tests.browser.server import serving
from tests.fixtures.agno.primitive_cases import count_up, first, last, write_a, write_b

SESSION = "nested-session"


@pytest.fixture(scope="module")
def nested_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kern serve --admin`` on a file holding one run with nested primitives."""
    db_file = tmp_path_factory.mktemp("primitives") / "nested.db"
    db = SqliteDb(db_file=str(db_file))
    try:
        inner = Steps(
            name="prepare",
            steps=[
                Parallel(write_a, write_b, name="fan"),
                Loop(name="again", steps=[count_up], max_iterations=2),
            ],
        )
        Workflow(name="Nested", db=db, steps=[first, inner, last]).run(
            "x", session_id=SESSION, run_id="r"
        )
    finally:
        db.close()
    with serving(db_file, "--admin") as url:
        yield url


def test_inner_steps_show_under_their_primitive_and_open_by_path(
    page: Any, nested_url: str, screenshots: Path
) -> None:
    page.goto(f"{nested_url}/")
    page.locator(f"[data-session-id={SESSION}] [data-testid=session-link]").click()
    run = page.get_by_test_id("run")
    expect(run).to_have_count(1)
    buttons = run.locator("[data-testid=step-button]")
    expect(buttons).to_have_count(9)
    expect(run.locator("[data-testid=run-steps-count]")).to_have_text("3 steps")
    keys = [buttons.nth(i).get_attribute("data-step") for i in range(9)]
    assert keys == ["0", "1", "2.1", "2.1.1", "2.1.2", "2.2", "2.2.1", "2.2.2", "2"]
    run.locator("[data-step='2.2.2']").click()
    view = run.locator("[data-testid=step-view]")
    expect(view.locator("[data-testid=step-title]")).to_have_text(
        "Step 2.2.2 · count_up (function count_up)"
    )
    recorded = httpx.get(f"{nested_url}/api/sessions/{SESSION}/runs/r/steps/2.2.2").json()
    expect(view.locator("[data-testid=step-output]")).to_have_text(recorded["content"])
    page.screenshot(path=screenshots / "web-primitives.png")


def test_scrubbed_inside_a_loop_the_timeline_shows_what_ran_so_far(
    page: Any, nested_url: str
) -> None:
    """At the first count_up's version, the Steps and the Loop are unfinished."""
    events = httpx.get(f"{nested_url}/api/sessions/{SESSION}/events").json()["events"]
    first_count = next(e["version"] for e in events if e["payload"].get("path") == "2.2.1")
    page.goto(f"{nested_url}/#/sessions/{SESSION}?v={first_count}")
    run = page.get_by_test_id("run")
    expect(run.locator("[data-testid=run-status]")).to_have_text("RUNNING")
    expect(run.locator("[data-testid=step-open]")).to_have_count(2)
    keys = [b.get_attribute("data-step") for b in run.locator("[data-step]").all()]
    assert keys == ["0", "1", "2.1", "2.1.1", "2.1.2", "2.2", "2.2.1"]
