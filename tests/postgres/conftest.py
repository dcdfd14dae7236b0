"""Fixtures for the PostgreSQL tests: a fresh store, and a raw connection beside it.

Both ask for ``postgres_schema``, so these tests skip locally without a
server and fail under CI, like the postgres runs of the contract suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.db.postgres import PostgresDb
from tests.conftest import POSTGRES_URL, postgres_table


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
