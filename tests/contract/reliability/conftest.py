"""Fixtures for the reliability tests.

``target`` names a shared store (an SQLite file, or a PostgreSQL table in this
run's schema) that spawned processes open for themselves; its PostgreSQL
connections carry an ``application_name`` of their own, so a test that kills
connections kills only these.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, postgres_table
from tests.contract.reliability._load import Target

SHARED_STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_target(schema: str) -> Target:
    """A new table in ``schema``, with connections named after it."""
    table = postgres_table()
    return Target(
        "postgres",
        POSTGRES_URL,
        session_table=table,
        db_schema=schema,
        application_name=f"kern-test-{table}",
    )


@pytest.fixture(params=SHARED_STORES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """An empty store on SQLite, then on PostgreSQL, that every process can open."""
    if request.param == "sqlite":
        return Target("sqlite", str(tmp_path / "kern.db"))
    return postgres_target(request.getfixturevalue("postgres_schema"))
