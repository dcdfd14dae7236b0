"""Fixtures for the PostgreSQL tests: a fresh store, and a raw connection beside it.

Both ask for ``postgres_schema``, so these tests skip locally without a
server and fail under CI, like the postgres runs of the contract suite.
Every test in this folder is marked ``postgres`` here, so ``-m "not
postgres"`` leaves them out and CI counts them, without a marker to remember
in each file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.adapters.stores.postgres import PostgresStore
from kern.db.postgres import PostgresDb
from tests.conftest import POSTGRES_URL, postgres_table

HERE = Path(__file__).parent


# tryfirst: the mark must be on before pytest's own hook deselects by -m.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/postgres/ ``postgres`` (the hook sees all items)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def table(postgres_schema: str) -> str:
    """A session_table name used by no other test."""
    return postgres_table()


@pytest.fixture
def pgdb(postgres_schema: str, table: str) -> Iterator[PostgresDb]:
    """An empty PostgresDb in this run's schema, closed after the test."""
    # Its own application_name, so a test that kills its connections kills no others.
    with PostgresDb(
        POSTGRES_URL,
        session_table=table,
        db_schema=postgres_schema,
        application_name=f"kern-test-{table}",
    ) as db:
        yield db


@pytest.fixture
def admin(postgres_schema: str) -> Iterator[psycopg.Connection[Any]]:
    """A raw autocommit connection to the test server, outside Kern."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        yield connection


def store_of(db: PostgresDb) -> PostgresStore:
    """``db``'s store, typed as the PostgresStore it is (KernDb holds the SessionStore port)."""
    assert isinstance(db.store, PostgresStore)
    return db.store


def qualified(schema: str, name: str) -> sql.Composed:
    """``"schema"."name"``, composed safely."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def event_rows(admin: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[Any, ...]]:
    """Every row of the session event log, in log order."""
    return admin.execute(
        sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} "
            "ORDER BY notification_id"
        ).format(qualified(schema, f"{table}_events"))
    ).fetchall()
