"""Table and schema names are checked before any SQL runs; the tables they name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.db.postgres import PostgresDb
from kern.errors import InvalidIdentifierError, InvalidInputError, StoreUnavailableError
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, postgres_table
from tests.postgres.conftest import event_rows, qualified

Admin = psycopg.Connection[Any]

# Nothing listens on port 1: any attempt to connect fails with StoreUnavailableError,
# so an InvalidIdentifierError proves the name was refused before any SQL ran.
UNREACHABLE = "postgresql://kern:secret@127.0.0.1:1/kern"
LIMIT = 63  # bytes in a PostgreSQL identifier
LONGEST_SUFFIX = len("_snapshots")

BAD_NAMES = {
    "double-quote": 'sessions"',
    "single-quote": "it's",
    "semicolon": "s; DROP TABLE users",
    "space": "my sessions",
    "leading-digit": "1sessions",
    "non-ascii": "séances",
    "hyphen": "kern-sessions",
    "dot": "public.sessions",
    "empty": "",
}


def test_unreachable_url_fails_at_first_use_with_valid_names(postgres_schema: str) -> None:
    """The control for the tests below: with good names, port 1 means StoreUnavailableError."""
    db = PostgresDb(UNREACHABLE, session_table="sessions", db_schema="kern")
    with pytest.raises(StoreUnavailableError):
        db.get_session("s1")


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_refuses_unsafe_session_table_before_connecting(postgres_schema: str, name: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="session_table"):
        PostgresDb(UNREACHABLE, session_table=name)


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_refuses_unsafe_db_schema_before_connecting(postgres_schema: str, name: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="db_schema"):
        PostgresDb(UNREACHABLE, db_schema=name)


@pytest.mark.parametrize("name", [None, 42, b"sessions"], ids=["none", "int", "bytes"])
def test_refuses_a_session_table_that_is_not_a_string(postgres_schema: str, name: Any) -> None:
    with pytest.raises(InvalidIdentifierError):
        PostgresDb(UNREACHABLE, session_table=name)


def test_refuses_session_table_whose_derived_names_exceed_63_bytes(postgres_schema: str) -> None:
    """``<name>_snapshots`` would be 64 bytes: PostgreSQL would silently cut it."""
    name = "s" * (LIMIT - LONGEST_SUFFIX + 1)
    with pytest.raises(InvalidIdentifierError, match="too long"):
        PostgresDb(UNREACHABLE, session_table=name)


def test_refuses_db_schema_over_63_bytes(postgres_schema: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="too long"):
        PostgresDb(UNREACHABLE, db_schema="s" * (LIMIT + 1))


def test_accepts_names_exactly_at_the_limit(postgres_schema: str) -> None:
    """Accepted at construction: the failure is the unreachable server, at first use."""
    db = PostgresDb(
        UNREACHABLE, session_table="s" * (LIMIT - LONGEST_SUFFIX), db_schema="d" * LIMIT
    )
    with pytest.raises(StoreUnavailableError):
        db.get_session("s1")


@pytest.fixture
def fresh_schema(admin: Admin) -> Iterator[str]:
    """A schema name that does not exist yet; dropped after the test if it was made."""
    name = f"kern_new_{uuid.uuid4().hex[:12]}"
    yield name
    admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def tables_in(admin: Admin, schema: str) -> set[str]:
    rows = admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
    ).fetchall()
    return {row[0] for row in rows}


def test_creates_a_missing_schema_and_the_named_tables_on_first_use(
    admin: Admin, fresh_schema: str
) -> None:
    table = postgres_table()
    with PostgresDb(POSTGRES_URL, session_table=table, db_schema=fresh_schema) as db:
        assert tables_in(admin, fresh_schema) == set()
        assert db.get_session("s1") is None
        kinds = ("events", "index", "schema", "segments", "snapshots", "keys", "erasures", "runs")
        tables = {f"{table}_{kind}" for kind in kinds}
        assert tables_in(admin, fresh_schema) == tables
        Workflow(name="New", db=db, steps=[...]).run(input="hi", session_id="s1")
        assert len(event_rows(admin, fresh_schema, table)) == 4


def test_longest_session_table_keeps_its_log_append_only(
    admin: Admin, postgres_schema: str
) -> None:
    """At the length limit the guard triggers still get distinct names (and both exist)."""
    table = "t" * (LIMIT - LONGEST_SUFFIX - 12) + uuid.uuid4().hex[:12]
    with PostgresDb(POSTGRES_URL, session_table=table, db_schema=postgres_schema) as db:
        Workflow(name="Long", db=db, steps=[...]).run(input="hi", session_id="s1")
        assert {f"{table}_events", f"{table}_index"} <= tables_in(admin, postgres_schema)
        events = qualified(postgres_schema, f"{table}_events")
        for statement in ("UPDATE {} SET topic = 'x'", "DELETE FROM {}", "TRUNCATE {}"):
            with pytest.raises(psycopg.Error, match="append-only"):
                admin.execute(sql.SQL(statement).format(events))
        assert len(event_rows(admin, postgres_schema, table)) == 4
        assert [s.session_id for s in db.get_sessions()] == ["s1"]


# -- URLs ---------------------------------------------------------------------------------------


def with_scheme(scheme: str) -> str:
    return scheme + "://" + POSTGRES_URL.split("://", 1)[1]


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg"])
def test_accepts_postgresql_and_sqlalchemy_style_urls(postgres_schema: str, scheme: str) -> None:
    url = with_scheme(scheme)
    with PostgresDb(url, session_table=postgres_table(), db_schema=postgres_schema) as db:
        Workflow(name="Urls", db=db, steps=[...]).run(input=scheme, session_id="s1")
        session = db.get_session("s1")
        assert session is not None and session.runs is not None
        assert session.runs[0].content == scheme


@pytest.mark.parametrize(
    "url",
    [
        "mysql://kern:secret@127.0.0.1:3306/kern",
        "sqlite:///kern.db",
        "kern:secret@127.0.0.1:5432/kern",
        "127.0.0.1:5432/kern",
        "",
    ],
    ids=["mysql", "sqlite", "no-scheme", "host-only", "empty"],
)
def test_refuses_urls_that_are_not_postgresql(postgres_schema: str, url: str) -> None:
    with pytest.raises(InvalidInputError, match="db_url"):
        PostgresDb(url)
