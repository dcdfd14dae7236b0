"""The PostgreSQL feed keeps its order without a table lock on appends, and only
Kern's own appends to the log hold it back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from kern.adapters.stores.codec import stored_event
from kern.db import FeedPosition
from kern.db.in_memory import InMemoryDb
from kern.db.postgres import PostgresDb
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL
from tests.postgres.conftest import store_of

DEADLINE = 60.0  # seconds; only reached when something is wrong


def ok(step_input: Any) -> str:
    return "ok"


@pytest.fixture
def other_connection() -> Iterator[psycopg.Connection[Any]]:
    """A connection outside Kern, not in autocommit: what it starts stays open."""
    with psycopg.connect(POSTGRES_URL) as connection:
        yield connection


def open_kern_append(connection: psycopg.Connection[Any], db: PostgresDb, session_id: str) -> int:
    """Append a real session's events with the store's own statement on ``connection``
    and leave the transaction open: an append in flight. How many events it wrote."""
    scratch = InMemoryDb()
    Workflow(name="w", db=scratch, steps=[ok]).run("in flight", session_id=session_id)
    rows = [stored_event(r) for r in scratch.store.read_records(session_id)]
    recorder = store_of(db).recorder
    params: list[Any] = []
    for row in rows:
        params += [row.originator_id, row.originator_version, row.topic, row.state]
    connection.execute(
        recorder._append_statement(len(rows), None, keyed=False), params, prepare=False
    )
    return len(rows)


def sessions_in(entries: list[Any]) -> list[str]:
    return [e.event.session_id for e in entries]


def test_a_kern_append_still_in_flight_holds_back_every_later_append(
    pgdb: PostgresDb, other_connection: psycopg.Connection[Any]
) -> None:
    """Events committed after an older Kern append began wait until it ends, so a
    follower can never pass a position that the older append's rows would take."""
    workflow = Workflow(name="w", db=pgdb, steps=[ok])
    workflow.run("before", session_id="a")
    served = pgdb.read_feed()
    written = open_kern_append(other_connection, pgdb, "slow")
    workflow.run("during", session_id="b")
    assert pgdb.read_feed(served[-1].position) == []
    other_connection.commit()
    later = pgdb.read_feed(served[-1].position)
    b_events = len(pgdb.get_events("b"))
    assert sessions_in(later) == ["slow"] * written + ["b"] * b_events


def test_an_unrelated_open_transaction_does_not_hold_the_feed_back(
    pgdb: PostgresDb, other_connection: psycopg.Connection[Any]
) -> None:
    """A transaction that holds an id but never touches Kern's log (idle in
    transaction, on another connection) stalls no follower."""
    workflow = Workflow(name="w", db=pgdb, steps=[ok])
    workflow.run("before", session_id="a")
    served = pgdb.read_feed()
    other_connection.execute("SELECT pg_current_xact_id()")  # older, and left open
    workflow.run("during", session_id="b")
    later = pgdb.read_feed(served[-1].position)
    assert sessions_in(later) == ["b"] * len(pgdb.get_events("b"))
    other_connection.rollback()


WAITING_APPEND = (
    "SELECT a.backend_xid::text AS xid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s::oid "
    "AND l.objid = %s::oid AND l.objsubid = 2 AND a.application_name = %s"
)


def test_an_append_joins_the_feed_queue_before_it_has_a_transaction_id(
    pgdb: PostgresDb, other_connection: psycopg.Connection[Any], admin: psycopg.Connection[Any]
) -> None:
    """The order the feed relies on: an append takes the log's feed lock before its
    transaction gets an id, so no append can hold an id the feed does not see."""
    store = store_of(pgdb)
    key = store.recorder.feed_lock_key
    other_connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", key)  # makes appends wait
    workflow = Workflow(name="w", db=pgdb, steps=[ok])
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(workflow.run, "waits", session_id="queued")
        deadline = time.monotonic() + DEADLINE
        waiting: list[tuple[Any, ...]] = []
        while not waiting and time.monotonic() < deadline:
            waiting = admin.execute(WAITING_APPEND, [*key, store.application_name]).fetchall()
            time.sleep(0.01)
        other_connection.rollback()
        assert running.result(timeout=DEADLINE).run_id is not None
    assert waiting == [(None,)]  # waiting for the lock, and no transaction id yet


def test_a_follower_sees_every_event_of_concurrent_writers_once_and_in_order(
    pgdb: PostgresDb,
) -> None:
    workflow = Workflow(name="w", db=pgdb, steps=[lambda step_input: "a", lambda s: "b"])
    expected: list[int] = []  # set once the writers are done: how many events they wrote

    def write(writer: int) -> None:
        for n in range(15):
            workflow.run(f"run {n}", session_id=f"writer-{writer}")

    seen: list[tuple[FeedPosition, str, int]] = []

    def follow() -> None:
        # Polls to a deadline: an empty page only means "nothing more yet".
        after, deadline = None, time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not (expected and len(seen) >= expected[0]):
            entries = pgdb.read_feed(after, limit=7)
            seen.extend((e.position, e.event.session_id, e.event.version) for e in entries)
            after = entries[-1].position if entries else after

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    expected.append(sum(len(pgdb.get_events(f"writer-{w}")) for w in range(4)))
    follower.join(timeout=DEADLINE + 10)
    positions = [p for p, _, _ in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for writer in range(4):
        session = f"writer-{writer}"
        versions = [v for _, sid, v in seen if sid == session]
        assert versions == list(range(1, len(pgdb.get_events(session)) + 1))
    assert pgdb.read_feed(positions[-1]) == []
