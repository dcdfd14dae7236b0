"""Fixtures for the audit tests: sessions to check, a second store, and a way to
change a stored log behind Kern's back on each store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from kern.adapters.stores.memory import InMemoryStore
from kern.db import KernDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.domain.records import Record
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL
from tests.contract.conftest import keyring_of


def run_twice(workflow: Workflow, session_id: str = "s1") -> None:
    """Two runs of echo + shout: versions 1 (SessionStarted) to 9.

    Version 3 is the StepCompleted whose content is "echo: hello", version 7
    the one whose content is "echo: again".
    """
    workflow.run(input="hello", session_id=session_id)
    workflow.run(input="again", session_id=session_id)


def stored(db: KernDb, session_id: str) -> list[tuple[str, int, str, bytes]]:
    """A session's records as plain tuples, state as bytes, for comparing stores."""
    return [
        (r.session_id, r.version, r.topic, bytes(r.state))
        for r in db.store.read_records(session_id)
    ]


class Tamper(Protocol):
    """Changes a stored log directly in the database, bypassing Kern."""

    def rewrite(self, session_id: str, version: int, topic: str, state: bytes) -> None:
        """Overwrite the topic and state stored at ``version``."""

    def delete(self, session_id: str, version: int) -> None:
        """Remove the event stored at ``version``."""

    def set_row(self, session_id: str, **columns: Any) -> None:
        """Overwrite columns of the session's listing row."""

    def reopen(self) -> KernDb:
        """A new KernDb over the same database (nothing cached)."""
        ...


@dataclass
class MemoryTamper:
    """Edits the POPO recorder's internal list and index."""

    db: KernDb

    def _recorder(self) -> Any:
        assert isinstance(self.db.store, InMemoryStore)
        return self.db.store.recorder

    def rewrite(self, session_id: str, version: int, topic: str, state: bytes) -> None:
        recorder = self._recorder()
        position = recorder._stored_events_index[session_id][version]
        recorder._stored_events[position] = StoredEvent(session_id, version, topic, state)

    def delete(self, session_id: str, version: int) -> None:
        del self._recorder()._stored_events_index[session_id][version]

    def set_row(self, session_id: str, **columns: Any) -> None:
        index = self._recorder().index
        index[session_id] = replace(index[session_id], **columns)

    def reopen(self) -> KernDb:
        return KernDb(self.db.store)


@dataclass
class SqliteTamper:
    """Drops the append-only triggers and edits the file with sqlite3."""

    db: SqliteDb

    def _execute(self, statement: str, params: list[Any]) -> None:
        table = f"{self.db.session_table}_events"
        with sqlite3.connect(self.db.db_file) as connection:
            connection.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            connection.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            connection.execute(statement.format(table=table), params)
        connection.close()

    def rewrite(self, session_id: str, version: int, topic: str, state: bytes) -> None:
        self._execute(
            "UPDATE {table} SET topic = ?, state = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            [topic, state, session_id, version],
        )

    def delete(self, session_id: str, version: int) -> None:
        self._execute(
            "DELETE FROM {table} WHERE originator_id = ? AND originator_version = ?",
            [session_id, version],
        )

    def set_row(self, session_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in columns)
        with sqlite3.connect(self.db.db_file) as connection:
            connection.execute(
                f"UPDATE {self.db.session_table}_index SET {assignments} WHERE session_id = ?",
                [*columns.values(), session_id],
            )
        connection.close()

    def reopen(self) -> KernDb:
        return SqliteDb(
            db_file=self.db.db_file,
            session_table=self.db.session_table,
            keyring=keyring_of(self.db),
        )


@dataclass
class PostgresTamper:
    """As superuser: disables the log's user triggers, edits, re-enables them."""

    db: PostgresDb

    def _execute(self, statement: str, params: list[Any]) -> None:
        table = sql.SQL("{}.{}").format(
            sql.Identifier(self.db.db_schema), sql.Identifier(f"{self.db.session_table}_events")
        )
        with psycopg.connect(POSTGRES_URL) as connection:
            connection.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(table))
            connection.execute(sql.SQL(statement).format(table=table), params)
            connection.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(table))

    def rewrite(self, session_id: str, version: int, topic: str, state: bytes) -> None:
        self._execute(
            "UPDATE {table} SET topic = %s, state = %s "
            "WHERE originator_id = %s AND originator_version = %s",
            [topic, state, session_id, version],
        )

    def delete(self, session_id: str, version: int) -> None:
        self._execute(
            "DELETE FROM {table} WHERE originator_id = %s AND originator_version = %s",
            [session_id, version],
        )

    def set_row(self, session_id: str, **columns: Any) -> None:
        statement = sql.SQL("UPDATE {}.{} SET {} WHERE session_id = %s").format(
            sql.Identifier(self.db.db_schema),
            sql.Identifier(f"{self.db.session_table}_index"),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns),
        )
        with psycopg.connect(POSTGRES_URL) as connection:
            connection.execute(statement, [*columns.values(), session_id])

    def reopen(self) -> KernDb:
        return PostgresDb(
            POSTGRES_URL, session_table=self.db.session_table, db_schema=self.db.db_schema
        )


class Tampering:
    """The tamper for ``db``'s kind, plus the records it changes."""

    def __init__(self, db: KernDb, tamper: Tamper) -> None:
        self.db = db
        self.tamper = tamper
        self.opened: list[KernDb] = []

    def record(self, session_id: str, version: int) -> Record:
        (found,) = [r for r in self.db.store.read_records(session_id) if r.version == version]
        return found

    def edit(self, session_id: str, version: int, change: Callable[[bytes], bytes]) -> None:
        """Replace the stored state at ``version`` with ``change(state)``."""
        record = self.record(session_id, version)
        state = bytes(record.state)
        changed = change(state)
        assert changed != state
        self.tamper.rewrite(session_id, version, record.topic, changed)

    def swap(self, session_id: str, first: int, second: int) -> None:
        """Exchange the topic and state stored at two versions."""
        a, b = self.record(session_id, first), self.record(session_id, second)
        self.tamper.rewrite(session_id, first, b.topic, bytes(b.state))
        self.tamper.rewrite(session_id, second, a.topic, bytes(a.state))

    def delete(self, session_id: str, version: int) -> None:
        self.tamper.delete(session_id, version)

    def set_row(self, session_id: str, **columns: Any) -> None:
        """Overwrite columns of the session's listing row, as an attacker with SQL would."""
        self.tamper.set_row(session_id, **columns)

    def fresh(self) -> KernDb:
        """A new KernDb over the tampered database."""
        opened = self.tamper.reopen()
        self.opened.append(opened)
        return opened


@pytest.fixture
def tampering(db: KernDb, store_kind: str) -> Iterator[Tampering]:
    """Direct edits of ``db``'s stored log, whatever its kind."""
    tamper: Tamper
    if store_kind == "memory":
        tamper = MemoryTamper(db)
    elif store_kind.startswith("sqlite"):
        assert isinstance(db, SqliteDb)
        tamper = SqliteTamper(db)
    else:
        assert isinstance(db, PostgresDb)
        tamper = PostgresTamper(db)
    tampering = Tampering(db, tamper)
    yield tampering
    for opened in tampering.opened:
        if opened is not db:
            opened.close()
