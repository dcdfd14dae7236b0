"""The event log refuses changes in the database itself; deleting appends a tombstone."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.db.postgres import PostgresDb
from kern.domain.events import SessionDeleted, SessionEvent
from kern.workflow import Workflow
from tests.postgres.conftest import event_rows, qualified

Admin = psycopg.Connection[Any]

REFUSED = {
    "update": "UPDATE {} SET topic = 'tampered'",
    "update-one-row": "UPDATE {} SET state = state WHERE originator_version = 1",
    "delete": "DELETE FROM {}",
    "delete-one-row": "DELETE FROM {} WHERE originator_version = 2",
    "truncate": "TRUNCATE {}",
}


def run_twice(db: PostgresDb, session_id: str) -> None:
    workflow = Workflow(name="Audited", db=db, steps=[...])
    workflow.run(input="first", session_id=session_id)
    workflow.run(input="second", session_id=session_id)


@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_database_refuses_to_change_the_event_log(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str, statement: str
) -> None:
    """Even a superuser on a raw connection cannot rewrite history."""
    run_twice(pgdb, "s1")
    before = event_rows(admin, postgres_schema, table)
    events = qualified(postgres_schema, f"{table}_events")

    with pytest.raises(psycopg.Error, match="append-only"):
        admin.execute(sql.SQL(statement).format(events))

    assert event_rows(admin, postgres_schema, table) == before
    session = pgdb.get_session("s1")
    assert session is not None and session.runs is not None
    assert [run.input for run in session.runs] == ["first", "second"]


def test_refusal_names_the_table_and_the_operation(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    run_twice(pgdb, "s1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        admin.execute(
            sql.SQL("DELETE FROM {}").format(qualified(postgres_schema, f"{table}_events"))
        )
    message = str(refused.value)
    assert f"{table}_events is append-only" in message
    assert "DELETE is not allowed" in message


def test_inserting_into_the_log_is_still_allowed(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """The guard is on changes only: appends go through, so Kern keeps working."""
    run_twice(pgdb, "s1")
    Workflow(name="Audited", db=pgdb, steps=[...]).run(input="third", session_id="s1")
    # SessionStarted, then RunStarted, StepCompleted, RunCompleted per run.
    assert len(event_rows(admin, postgres_schema, table)) == 1 + 3 * 3


def count_events(admin: Admin, schema: str, table: str, session_id: str) -> int:
    row = admin.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE originator_id = %s").format(
            qualified(schema, f"{table}_events")
        ),
        [session_id],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_deleting_a_session_appends_a_tombstone_and_keeps_its_events(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    run_twice(pgdb, "gone")
    run_twice(pgdb, "kept")
    before = count_events(admin, postgres_schema, table, "gone")

    assert pgdb.delete_session("gone") is True

    assert pgdb.get_session("gone") is None
    assert [s.session_id for s in pgdb.get_sessions()] == ["kept"]
    assert count_events(admin, postgres_schema, table, "gone") == before + 1
    last: SessionEvent = pgdb.store.read("gone")[-1]
    assert isinstance(last, SessionDeleted)
    assert last.version == before + 1


def test_deleted_session_stays_in_the_index_marked_deleted(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """The listing row is kept for audit too, flagged, with the tombstone's version."""
    run_twice(pgdb, "gone")
    pgdb.delete_session("gone")
    row = admin.execute(
        sql.SQL("SELECT deleted, version FROM {} WHERE session_id = %s").format(
            qualified(postgres_schema, f"{table}_index")
        ),
        ["gone"],
    ).fetchone()
    assert row == (True, count_events(admin, postgres_schema, table, "gone"))


def test_deleting_twice_appends_one_tombstone(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    run_twice(pgdb, "gone")
    assert pgdb.delete_session("gone") is True
    count = count_events(admin, postgres_schema, table, "gone")
    assert pgdb.delete_session("gone") is False
    assert count_events(admin, postgres_schema, table, "gone") == count
