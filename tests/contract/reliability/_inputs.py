"""What the reliability tests compare and plant: a store's whole contents, raw records.

``contents`` is everything a store holds, read below Kern's codec (the index's
session ids and each session's records as stored), so "nothing was written"
is checked on the database itself. ``plant`` appends a record straight to the
event log with the store's own connection (sqlite3, psycopg; the recorder for
the in-memory store), the way a newer Kern or a damaged disk would leave it.
``reopened`` opens the same database again, as another process would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from kern.adapters.stores.memory import InMemoryStore
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from tests.conftest import POSTGRES_URL
from tests.contract.conftest import keyring_of

Contents = dict[str, list[tuple[int, str, bytes]]]


def contents(db: KernDb) -> Contents:
    """Every session the store's index knows (deleted ones too) and its stored records."""
    return {
        session_id: [
            (r.version, r.topic, bytes(r.state)) for r in db.store.read_records(session_id)
        ]
        for session_id in db.store.session_ids()
    }


def plant(db: KernDb, session_id: str, version: int, topic: str, state: bytes) -> None:
    """Append one raw record to the session's log, bypassing Kern."""
    if isinstance(db, InMemoryDb):
        assert isinstance(db.store, InMemoryStore)
        db.store.recorder.insert_events([StoredEvent(session_id, version, topic, state)])
    elif isinstance(db, SqliteDb):
        table = f"{db.session_table}_events"
        with sqlite3.connect(db.db_file) as connection:
            connection.execute(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "VALUES (?, ?, ?, ?)",
                (session_id, version, topic, state),
            )
        connection.close()
    elif isinstance(db, PostgresDb):
        events = sql.Identifier(db.db_schema, f"{db.session_table}_events")
        statement = sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        ).format(events)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(statement, (session_id, version, topic, state))
    else:
        raise TypeError(f"no raw access to {type(db).__name__}")


class Unstorable:
    """A value with no JSON form."""

    def __repr__(self) -> str:
        return "<Unstorable>"


def nested(levels: int) -> Any:
    """A value ``levels`` deep: dicts and lists in turn around one string."""
    value: Any = "core"
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def numbers() -> Any:
    """A generator: a step that returns one hands Kern an iterator it must not drain."""
    yield from range(3)


@contextmanager
def reopened(db: KernDb) -> Iterator[KernDb]:
    """The store under test opened again, as another process would: nothing cached."""
    if isinstance(db, SqliteDb):
        fresh: KernDb = SqliteDb(
            db_file=db.db_file, session_table=db.session_table, keyring=keyring_of(db)
        )
    elif isinstance(db, PostgresDb):
        fresh = PostgresDb(POSTGRES_URL, session_table=db.session_table, db_schema=db.db_schema)
    else:
        yield db  # the in-memory store lives in this object only
        return
    with fresh:
        yield fresh
