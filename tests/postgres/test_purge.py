"""Purging a PostgreSQL session: the guard lets a row go only in a transaction
that named its session in ``kern.purge_session``; UPDATE and TRUNCATE stay
refused; a purge that fails midway changes nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.db.postgres import PostgresDb
from kern.errors import StoreError
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, echo, shout
from tests.postgres.conftest import event_rows, qualified

Admin = psycopg.Connection[Any]


def _record(db: PostgresDb) -> None:
    workflow = Workflow(name="Private", db=db, steps=[echo, shout])
    workflow.run(input="marker-9c2d personal", session_id="s1")
    workflow.run(input="someone else", session_id="s2")


def _in_purge_of(admin: Admin, session_id: str, statement: sql.Composed | sql.SQL) -> None:
    """Run ``statement`` in a transaction that set kern.purge_session to ``session_id``."""
    with admin.transaction():
        admin.execute("SELECT set_config('kern.purge_session', %s, true)", [session_id])
        admin.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {events} WHERE originator_id = 's1'",
        "UPDATE {events} SET topic = topic WHERE originator_id = 's2'",
        "TRUNCATE {events}",
    ],
    ids=["delete-another-session", "update-the-named-session", "truncate"],
)
def test_the_guard_lets_only_the_named_session_go(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str, statement: str
) -> None:
    """Naming s2 lets no row of s1 go, and never allows UPDATE or TRUNCATE."""
    _record(pgdb)
    before = event_rows(admin, postgres_schema, table)
    events = qualified(postgres_schema, f"{table}_events")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        _in_purge_of(admin, "s2", sql.SQL(statement).format(events=events))
    assert event_rows(admin, postgres_schema, table) == before


def test_the_setting_ends_with_its_transaction(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """After a purge's transaction, a plain DELETE on the same connection is refused."""
    _record(pgdb)
    events = qualified(postgres_schema, f"{table}_events")
    _in_purge_of(admin, "nobody", sql.SQL("SELECT 1"))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        admin.execute(sql.SQL("DELETE FROM {} WHERE originator_id = 's1'").format(events))


def test_a_purge_that_fails_midway_changes_nothing(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """The ledger insert, the last statement, is refused: everything is as before."""
    _record(pgdb)
    before = event_rows(admin, postgres_schema, table)
    erasures = qualified(postgres_schema, f"{table}_erasures")
    admin.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT refuse_all CHECK (reason = 'never')").format(
            erasures
        )
    )
    with pytest.raises(StoreError, match="refuse_all"):
        pgdb.purge_session("s1", reason="ticket 1", requested_by="dpo")
    assert event_rows(admin, postgres_schema, table) == before
    assert pgdb.store.listing_row("s1") is not None
    assert pgdb.erasures() == []
    assert pgdb.verify().ok


def test_a_purge_survives_reopening_the_store(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """A new store object reads the ledger; only s2's rows are left in the log."""
    _record(pgdb)
    entry = pgdb.purge_session("s1", reason="ticket 1", requested_by="dpo")
    with PostgresDb(POSTGRES_URL, session_table=table, db_schema=postgres_schema) as again:
        assert again.erasures() == [entry]
        assert [s.session_id for s in again.get_sessions(limit=10)] == ["s2"]
    assert {row[0] for row in event_rows(admin, postgres_schema, table)} == {"s2"}
