"""The store-wide feed: every session's events once, in an order that never changes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from kern.db import FeedPosition, KernDb
from kern.errors import InvalidQueryError
from kern.workflow import Workflow

DEADLINE = 60.0  # seconds; only reached when an event never shows up


def follow(db: KernDb, expected: int, page: int = 3) -> list[tuple[FeedPosition, str, int]]:
    """Page through the feed until ``expected`` events were served (an empty page only
    means "nothing more yet"), then check nothing follows; (position, session_id,
    version) of each event."""
    seen: list[tuple[FeedPosition, str, int]] = []
    after, deadline = None, time.monotonic() + DEADLINE
    while len(seen) < expected and time.monotonic() < deadline:
        entries = db.read_feed(after, limit=page)
        seen += [(e.position, e.event.session_id, e.event.version) for e in entries]
        after = entries[-1].position if entries else after
    assert db.read_feed(after) == []
    return seen


def stored(db: KernDb, *session_ids: str) -> int:
    return sum(len(db.get_events(session_id)) for session_id in session_ids)


def test_feed_serves_every_event_once_in_increasing_positions(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    workflow = make_workflow()
    for n in range(3):
        for session in ("a", "b"):
            workflow.run(f"hello {n}", session_id=session)
    seen = follow(db, stored(db, "a", "b"))
    positions = [position for position, _, _ in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for session in ("a", "b"):
        versions = [v for _, sid, v in seen if sid == session]
        assert versions == list(range(1, len(db.get_events(session)) + 1))


def test_feed_after_the_last_position_is_empty_until_something_is_appended(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    workflow = make_workflow()
    workflow.run("one", session_id="a")
    last = follow(db, stored(db, "a"))[-1][0]
    assert db.read_feed(last) == []
    workflow.run("two", session_id="b")
    newer = db.read_feed(last)
    assert [e.event.session_id for e in newer] == ["b"] * len(db.get_events("b"))
    assert all(e.position > last for e in newer)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_feed_refuses_a_limit_that_is_not_a_positive_int(db: KernDb, limit: object) -> None:
    with pytest.raises(InvalidQueryError, match="limit must be a positive int"):
        db.read_feed(limit=limit)  # type: ignore[arg-type]
