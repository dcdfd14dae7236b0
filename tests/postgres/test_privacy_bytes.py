"""PostgreSQL's table files never hold a keyed user's values: read from disk, past
the database's own reading of rows (a superuser's pg_read_binary_file)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from kern.crypto import LocalKeyring
from kern.db.postgres import PostgresDb
from kern.workflow import StepInput, Workflow
from tests.conftest import POSTGRES_URL, postgres_table

pytestmark = pytest.mark.postgres

MARKER = "OKAPI-8124"
MASTER = LocalKeyring(bytes(range(32)))


def step(step_input: StepInput) -> str:
    return f"answer to {step_input.input}"


@pytest.fixture
def db(postgres_schema: str) -> Iterator[PostgresDb]:
    with PostgresDb(POSTGRES_URL, postgres_table(), postgres_schema, keyring=MASTER) as db:
        yield db


def table_file_bytes(schema: str, table: str) -> bytes:
    """The bytes of ``table``'s heap file, after a checkpoint wrote them to disk."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        name = sql.Identifier(schema, table).as_string(conn)
        row = conn.execute(
            "SELECT pg_read_binary_file(pg_relation_filepath(%s::regclass))", [name]
        ).fetchone()
    assert row is not None
    return bytes(row[0])


def test_the_events_table_file_holds_no_value_of_a_keyed_user(db: PostgresDb) -> None:
    workflow = Workflow(name="W", db=db, steps=[step])
    workflow.run(input=f"question {MARKER}", session_id="s1", user_id="alice")
    events = table_file_bytes(db.db_schema, f"{db.session_table}_events")
    assert b'"sealed"' in events  # the file was read: it holds the sealed payloads
    assert MARKER.encode() not in events
    session = db.get_session("s1")
    assert session is not None and (session.runs or [])[0].input == f"question {MARKER}"
