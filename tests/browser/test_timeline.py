"""The web timeline in a real browser, against ``kern serve`` on a recorded SQLite file.

Each test opens pages the way a person would (links, the scrubber, buttons)
and checks what the page then shows against what Kern recorded.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from playwright.sync_api import expect

from kern.adapters.cli.demo_workflow import demo_workflow
from kern.adapters.cli.serve import GRACEFUL_SHUTDOWN
from kern.db.sqlite import SqliteDb
from kern.web import create_app
from tests.browser.recorded import (
    BOBS,
    DEMO,
    DEMO_RUNS,
    FLAKY,
    SCRIPT_INPUT,
    SCRIPT_NAME,
    Recorded,
    record,
)
from tests.browser.server import STARTUP, serving, started
from tests.web.server import serving as serving_app

RUN_2_MIDWAY = 9
"""The demo session's version 9: run 1 done (versions 2-6), run 2 started at 7,
its first two steps at 8 and 9; the rename comes last."""


def by_testid(page: Any, testid: str) -> Any:
    return page.locator(f"[data-testid={testid}]")


def open_demo(page: Any, url: str) -> None:
    """From the sessions list, open the demo session by its link."""
    page.goto(f"{url}/")
    page.locator(f"[data-session-id={DEMO}] [data-testid=session-link]").click()
    expect(by_testid(page, "run")).to_have_count(DEMO_RUNS)


def test_sessions_page_lists_the_sessions_and_filters_them(
    page: Any, admin_url: str, screenshots: Path
) -> None:
    """Every session is listed with its runs and last status; name and user filter it."""
    page.goto(f"{admin_url}/")
    rows = by_testid(page, "session-row")
    expect(rows).to_have_count(3)
    demo = page.locator(f"[data-session-id={DEMO}]")
    expect(demo).to_contain_text(str(DEMO_RUNS))
    expect(demo).to_contain_text("COMPLETED")
    expect(page.locator(f"[data-session-id={FLAKY}]")).to_contain_text("ERROR")
    expect(by_testid(page, "who")).to_contain_text("all users")
    page.screenshot(path=screenshots / "web-sessions.png")

    by_testid(page, "sessions-name").fill("FLAKY")
    by_testid(page, "sessions-apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-session-id", FLAKY)

    page.goto(f"{admin_url}/#/?user=bob")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-session-id", BOBS)
    expect(by_testid(page, "sessions-next")).to_be_disabled()


def test_session_page_shows_each_run_as_recorded(
    page: Any, admin_url: str, recorded: Recorded, screenshots: Path
) -> None:
    """Runs in order with status, steps and duration; a verified chain; the latest version."""
    open_demo(page, admin_url)
    runs = by_testid(page, "run")
    for run, run_id in zip(runs.all(), recorded.demo_runs, strict=True):
        expect(run).to_have_attribute("data-run-id", run_id)
        expect(run.locator("[data-testid=run-status]")).to_have_text("COMPLETED")
        expect(run.locator("[data-testid=run-steps-count]")).to_have_text("3 steps")
        expect(run.locator("[data-testid=run-duration]")).to_have_text(re.compile(r"\d (µs|ms|s)$"))
    expect(runs.nth(1).locator("[data-testid=run-input]")).to_have_text("Vector databases")
    expect(by_testid(page, "verify-badge")).to_have_text("hash chain verified (27 events)")
    expect(by_testid(page, "version-label")).to_have_text("showing version 27 of 27 (latest)")
    expect(by_testid(page, "version-time")).to_contain_text("SessionRenamed")
    expect(by_testid(page, "session-title")).to_contain_text("Automated research")
    page.screenshot(path=screenshots / "web-session.png")


def test_event_log_pages_through_every_event_with_its_provenance(page: Any, admin_url: str) -> None:
    """25 events a page, each with its type and Kern version; Later shows the rest."""
    open_demo(page, admin_url)
    events = by_testid(page, "event-row")
    expect(events).to_have_count(25)
    expect(events.first.locator("[data-testid=event-type]")).to_have_text("SessionStarted")
    expect(events.first).to_contain_text("kern 0.1.0")
    expect(by_testid(page, "events-range")).to_have_text("events 1 to 25 of 27")
    by_testid(page, "events-next").click()
    expect(events).to_have_count(2)
    expect(events.last.locator("[data-testid=event-type]")).to_have_text("SessionRenamed")
    expect(by_testid(page, "events-next")).to_be_disabled()
    by_testid(page, "events-prev").click()
    expect(events).to_have_count(25)


def test_event_log_filters_by_event_type_and_run(
    page: Any, admin_url: str, recorded: Recorded, screenshots: Path
) -> None:
    """Only the chosen run's StepCompleted events: the filter Temporal's users still ask for."""
    open_demo(page, admin_url)
    events = by_testid(page, "event-row")
    expect(events).to_have_count(25)
    by_testid(page, "events-type").select_option("StepCompleted")
    expect(events).to_have_count(DEMO_RUNS * 3)
    second = recorded.demo_runs[1]
    by_testid(page, "events-run").select_option(second)
    expect(events).to_have_count(3)
    for index in range(3):
        row = events.nth(index)
        expect(row.locator("[data-testid=event-type]")).to_have_text("StepCompleted")
        expect(row).to_contain_text(second)
    expect(by_testid(page, "events-range")).to_contain_text("3 matching")
    page.locator("div.events").screenshot(path=screenshots / "web-events.png")
    by_testid(page, "events-type").select_option("")
    expect(events).to_have_count(5)  # the run's RunStarted, 3 steps, RunCompleted
    by_testid(page, "events-run").select_option("")
    expect(events).to_have_count(25)


def test_scrubbing_back_shows_the_session_as_it_was(
    page: Any, admin_url: str, screenshots: Path
) -> None:
    """At version 9 the session had two runs, the second RUNNING after two steps, and no
    name yet; later events are marked; "show the latest" comes back."""
    open_demo(page, admin_url)
    by_testid(page, "version-scrubber").fill(str(RUN_2_MIDWAY))
    expect(page).to_have_url(re.compile(rf"#/sessions/{DEMO}\?v={RUN_2_MIDWAY}$"))
    runs = by_testid(page, "run")
    expect(runs).to_have_count(2)
    expect(runs.nth(1).locator("[data-testid=run-status]")).to_have_text("RUNNING")
    expect(runs.nth(1).locator("[data-testid=step-button]")).to_have_count(2)
    expect(by_testid(page, "version-shown")).to_have_text(str(RUN_2_MIDWAY))
    expect(by_testid(page, "version-time")).to_contain_text("StepCompleted")
    expect(by_testid(page, "session-title")).to_have_text(DEMO)
    expect(by_testid(page, "run-count")).to_have_text("2")
    expect(page.locator("[data-testid=event-row].later")).to_have_count(25 - RUN_2_MIDWAY)
    page.screenshot(path=screenshots / "web-scrubbed.png")

    by_testid(page, "version-latest").click()
    expect(runs).to_have_count(DEMO_RUNS)
    expect(page.locator("[data-testid=event-row].later")).to_have_count(0)


def test_a_step_shows_exactly_what_it_received_and_returned(
    page: Any, admin_url: str, recorded: Recorded, screenshots: Path
) -> None:
    """The summarize step of run 2: its recorded input (history context included), its
    starting state and its output, as the step endpoint returns them."""
    open_demo(page, admin_url)
    run = by_testid(page, "run").nth(1)
    run.locator("[data-testid=step-button]").nth(1).click()
    view = run.locator("[data-testid=step-view]")
    expect(view).to_be_visible()
    recorded_view = httpx.get(
        f"{admin_url}/api/sessions/{DEMO}/runs/{recorded.demo_runs[1]}/steps/1"
    ).json()
    expect(view.locator("[data-testid=step-title]")).to_have_text(
        "Step 1 · summarize (agent Summarizer)"
    )
    expect(view.locator("[data-testid=step-input]")).to_have_text(recorded_view["input"])
    expect(view.locator("[data-testid=step-input]")).to_contain_text("[Workflow Run-1]")
    expect(view.locator("[data-testid=step-output]")).to_have_text(
        "Summary of Vector databases, building on 1 earlier run(s)."
    )
    expect(view.locator("[data-testid=step-state]")).to_contain_text('"runs_counted": 1')
    expect(view.locator("[data-testid=step-history]")).to_contain_text("User input: AI trends")
    run.screenshot(path=screenshots / "web-step.png")


def test_two_runs_are_compared_side_by_side(
    page: Any, admin_url: str, recorded: Recorded, screenshots: Path
) -> None:
    """Runs 1 and 4 had the same input; the diff shows research the same and what the
    history changed downstream, with both values."""
    open_demo(page, admin_url)
    by_testid(page, "diff-a").select_option(recorded.demo_runs[0])
    by_testid(page, "diff-b").select_option(recorded.demo_runs[3])
    by_testid(page, "diff-compare").click()
    expect(by_testid(page, "diff-summary")).to_contain_text("The runs differ")
    rows = by_testid(page, "diff-row")
    research = rows.filter(has_text="step 0 · research")
    expect(research).to_have_count(1)
    expect(research).to_contain_text("same")
    output = page.locator("[data-testid=diff-row][data-field=output]").filter(
        has_text="step 1 · summarize"
    )
    expect(output.locator("[data-testid=diff-a-value]")).to_have_text(
        "Summary of AI trends, building on 0 earlier run(s)."
    )
    expect(output.locator("[data-testid=diff-b-value]")).to_have_text(
        "Summary of AI trends, building on 3 earlier run(s)."
    )
    expect(page.locator("[data-field=input]").filter(has_text="the run")).to_have_count(0)
    by_testid(page, "diff").screenshot(path=screenshots / "web-diff.png")


def test_session_data_is_shown_as_text_and_never_run(page: Any, admin_url: str) -> None:
    """A name with a <script> tag and an input with an <img onerror> appear as typed."""
    page.goto(f"{admin_url}/")
    expect(page.locator(f"[data-session-id={FLAKY}] [data-testid=session-name]")).to_have_text(
        SCRIPT_NAME
    )
    page.locator(f"[data-session-id={FLAKY}] [data-testid=session-link]").click()
    expect(by_testid(page, "session-title")).to_have_text(SCRIPT_NAME)
    runs = by_testid(page, "run")
    expect(runs.first.locator("[data-testid=run-input]")).to_have_text(SCRIPT_INPUT)
    expect(runs.nth(1).locator("[data-testid=run-status]")).to_have_text("ERROR")
    expect(runs.nth(1).locator("[data-testid=run-error]")).to_contain_text("the source is down")
    assert page.locator("#view script, #view img").count() == 0
    assert page.evaluate("window.kernInjected") is None


def test_a_scoped_server_shows_only_the_users_own_sessions(
    browser: Any, recorded: Recorded
) -> None:
    """Behind --trust-user-header, alice lists only her session, and bob's reads as missing."""
    with serving(recorded.db_file, "--trust-user-header", "X-User") as url:
        context = browser.new_context(extra_http_headers={"X-User": "alice"})
        try:
            page = context.new_page()
            page.goto(f"{url}/")
            rows = by_testid(page, "session-row")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-session-id", FLAKY)
            expect(by_testid(page, "who")).to_contain_text("signed in as alice")
            expect(by_testid(page, "sessions-user")).to_have_count(0)  # no one else to pick

            page.goto(f"{url}/#/sessions/{BOBS}")
            expect(by_testid(page, "error")).to_contain_text(BOBS)
            expect(by_testid(page, "run")).to_have_count(0)
        finally:
            context.close()


def test_the_latest_version_follows_new_runs_live(page: Any, tmp_path: Path) -> None:
    """A run recorded while the page is open appears without a reload."""
    own = record(tmp_path / "live.db")
    with serving(own.db_file, "--admin") as url:
        page.goto(f"{url}/#/sessions/{DEMO}")
        runs = by_testid(page, "run")
        expect(runs).to_have_count(DEMO_RUNS)
        with SqliteDb(db_file=str(own.db_file)) as db:
            demo_workflow(db).run(input="Live topic", session_id=DEMO)
        expect(runs).to_have_count(DEMO_RUNS + 1)
        expect(runs.last.locator("[data-testid=run-input]")).to_have_text("Live topic")
        expect(by_testid(page, "version-label")).to_have_text("showing version 32 of 32 (latest)")
        page.goto("about:blank")  # closes the event stream before the server stops


def test_kern_serve_stops_while_a_page_follows_a_session(browser: Any, recorded: Recorded) -> None:
    """A page showing the latest version keeps an event stream open; SIGTERM still stops
    the server, after at most GRACEFUL_SHUTDOWN seconds (the page then sees its stream
    cut, so it has a context of its own, not the ``page`` fixture that fails on that)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        with started(recorded.db_file, "--admin") as (url, process):
            page.goto(f"{url}/#/sessions/{DEMO}")
            expect(by_testid(page, "live")).to_be_visible()
            process.terminate()
            # uvicorn re-raises the signal once it has shut down: killed by SIGTERM, cleanly
            assert process.wait(timeout=GRACEFUL_SHUTDOWN + STARTUP) == -signal.SIGTERM
    finally:
        context.close()


def test_the_timeline_works_mounted_under_a_prefix(page: Any, recorded: Recorded) -> None:
    """Mounted at /kern/ in another FastAPI app, the page finds its files and the API
    relative to where it is served."""
    service = FastAPI()
    with SqliteDb(db_file=str(recorded.db_file)) as db:
        service.mount("/kern", create_app(db, admin=True))
        with serving_app(service) as url:
            page.goto(f"{url}/kern/")
            expect(by_testid(page, "session-row")).to_have_count(3)
            page.locator(f"[data-session-id={DEMO}] [data-testid=session-link]").click()
            expect(page).to_have_url(f"{url}/kern/#/sessions/{DEMO}")
            expect(by_testid(page, "run")).to_have_count(DEMO_RUNS)
            expect(by_testid(page, "verify-badge")).to_contain_text("verified")
            page.goto("about:blank")  # closes the event stream before the server stops
