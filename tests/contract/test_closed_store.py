"""A closed store refuses every operation at once, naming itself, on every store kind.

PostgreSQL used to treat its closed pool as a lost connection and retry for
about 15 s before failing; now nothing reaches the retry policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from kern.db import KernDb
from kern.errors import StoreClosedError, StoreUnavailableError
from kern.workflow import Workflow
from tests.conftest import echo

GENEROUS = 5.0
"""Seconds: a third of the retry budget, so a retried call cannot pass unnoticed."""

NAMED = {
    "memory": "in-memory store",
    "sqlite": "kern.db",
    "postgres": "PostgreSQL store at",
    "sqlite-async": "kern.db",
    "sqlite-keyring": "kern.db",
    "postgres-async": "PostgreSQL store at",
}
"""What each store's StoreClosedError says it is."""


def operations(db: KernDb, workflow: Workflow) -> dict[str, Callable[[], Any]]:
    """Every kind of use of a KernDb, reads and writes, on a session that exists."""
    export_line = next(iter(db.export("s1")))
    return {
        "read a session": lambda: db.get_session("s1"),
        "read it as of a version": lambda: db.get_session("s1", as_of=1),
        "list sessions": lambda: db.get_sessions(),
        "read its events": lambda: db.get_events("s1"),
        "read its log": lambda: db.get_log("s1"),
        "read a step": lambda: db.get_step_view("s1", "r1", 0),
        "read the feed": lambda: db.read_feed(),
        "verify": lambda: db.verify(),
        "export": lambda: list(db.export()),
        "import": lambda: db.import_lines([export_line]),
        "run a workflow": lambda: workflow.run("again", session_id="s1"),
        "start a session": lambda: workflow.run("new", session_id="s3"),
        "rename": lambda: db.rename_session("s1", "renamed"),
        "update state": lambda: db.update_session_state("s1", {"k": 1}),
        "delete": lambda: db.delete_session("s1"),
        "fork": lambda: db.fork_session("s1", at=1, new_session_id="s4"),
    }


@pytest.fixture
def retries(db: KernDb) -> list[BaseException]:
    """Every failure the PostgreSQL retry policy would try again (none elsewhere)."""
    seen: list[BaseException] = []
    policy = getattr(db.store, "retry", None)
    if policy is not None:
        policy.on_retry = lambda exc, pause: seen.append(exc)
    return seen


def test_every_operation_of_a_closed_store_fails_at_once_naming_it(
    db: KernDb, store_kind: str, retries: list[BaseException]
) -> None:
    """Cached or not, read or write: StoreClosedError, never a retry."""
    workflow = Workflow(name="Closing", db=db, steps=[echo])
    workflow.run("hi", session_id="s1", run_id="r1")
    uses = operations(db, workflow)
    db.close()
    for what, use in uses.items():
        started = time.monotonic()
        with pytest.raises(StoreClosedError, match=NAMED[store_kind]) as raised:
            use()
        assert time.monotonic() - started < GENEROUS, what
        assert "closed" in str(raised.value), what
    assert retries == []


def test_closing_twice_is_harmless_and_the_error_is_a_store_unavailable_error(
    db: KernDb,
) -> None:
    db.close()
    db.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        db.get_session("s1")
