"""Writers of one busy PostgreSQL session take turns (SessionStore.writing)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from kern.adapters.stores import postgres
from kern.db.postgres import PostgresDb
from tests.conftest import POSTGRES_URL
from tests.postgres.conftest import store_of

DEADLINE = 60.0  # seconds; only reached when something is wrong

WAITING_FOR_A_TURN = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s::oid "
    "AND a.application_name = %s"
)


def second_store(pgdb: PostgresDb) -> PostgresDb:
    """Another PostgresDb on ``pgdb``'s table, with its own connections."""
    store = store_of(pgdb)
    return PostgresDb(
        POSTGRES_URL,
        session_table=store.names.events.removesuffix("_events"),
        db_schema=store.schema,
        application_name=store.application_name,
    )


def test_a_writer_waits_while_another_has_its_turn_at_the_session(
    pgdb: PostgresDb, admin: psycopg.Connection[Any]
) -> None:
    pgdb.get_sessions()  # the tables exist before the race
    first = store_of(pgdb)
    order: list[str] = []
    with second_store(pgdb) as other:
        waited = threading.Event()

        def second_writer() -> None:
            with store_of(other).writing("s1"):
                order.append("second")

        with first.writing("s1"):
            thread = threading.Thread(target=second_writer)
            thread.start()
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline and not waited.is_set():
                row = admin.execute(
                    WAITING_FOR_A_TURN, [postgres.WRITER_LOCK_CLASS, first.application_name]
                ).fetchone()
                if row is not None and row[0] >= 1:
                    waited.set()
                time.sleep(0.01)
            order.append("first")
        thread.join(DEADLINE)
    assert waited.is_set()
    assert order == ["first", "second"]


def test_a_writer_that_waits_too_long_for_its_turn_goes_ahead_without_it(
    pgdb: PostgresDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn is a courtesy (the append's version check decides): past
    TURN_TIMEOUT the writer enters anyway, instead of failing."""
    monkeypatch.setattr(postgres, "TURN_TIMEOUT", "50ms")
    pgdb.get_sessions()
    with second_store(pgdb) as other, store_of(pgdb).writing("s1"):
        entered = []
        with store_of(other).writing("s1"):
            entered.append(True)
    assert entered == [True]


def test_other_sessions_do_not_wait_for_a_turn(pgdb: PostgresDb) -> None:
    pgdb.get_sessions()
    with second_store(pgdb) as other, store_of(pgdb).writing("s1"):
        done = threading.Event()

        def elsewhere() -> None:
            with store_of(other).writing("s2"):
                done.set()

        thread = threading.Thread(target=elsewhere)
        thread.start()
        assert done.wait(DEADLINE)
        thread.join(DEADLINE)
