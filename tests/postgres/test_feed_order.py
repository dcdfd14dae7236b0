"""The PostgreSQL feed keeps its order without a table lock on appends."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from kern.db import FeedPosition
from kern.db.postgres import PostgresDb
from kern.workflow import Workflow


def test_an_append_still_in_flight_holds_back_every_later_transaction(
    pgdb: PostgresDb, admin: psycopg.Connection[Any]
) -> None:
    """Events committed after an older transaction began wait until it ends, so a
    follower can never pass a position that older transaction's rows would take."""
    workflow = Workflow(name="w", db=pgdb, steps=[lambda step_input: "ok"])
    workflow.run("before", session_id="a")
    served = pgdb.read_feed()
    with admin.transaction():
        admin.execute("SELECT pg_current_xact_id()")  # an older transaction, still open
        workflow.run("during", session_id="b")
        assert pgdb.read_feed(served[-1].position) == []
    later = pgdb.read_feed(served[-1].position)
    assert {e.event.session_id for e in later} == {"b"}


def test_a_follower_sees_every_event_of_concurrent_writers_once_and_in_order(
    pgdb: PostgresDb,
) -> None:
    workflow = Workflow(name="w", db=pgdb, steps=[lambda step_input: "a", lambda s: "b"])
    done = threading.Event()

    def write(writer: int) -> None:
        for n in range(15):
            workflow.run(f"run {n}", session_id=f"writer-{writer}")

    seen: list[tuple[FeedPosition, str, int]] = []

    def follow() -> None:
        after = None
        while True:
            finished = done.is_set()
            entries = pgdb.read_feed(after, limit=7)
            seen.extend((e.position, e.event.session_id, e.event.version) for e in entries)
            after = entries[-1].position if entries else after
            if finished and not entries:
                return

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    follower.join(timeout=60)
    positions = [p for p, _, _ in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for writer in range(4):
        session = f"writer-{writer}"
        versions = [v for _, sid, v in seen if sid == session]
        assert versions == list(range(1, len(pgdb.get_events(session)) + 1))
