"""Importing from Agno's PostgreSQL tables: the fixture's rows loaded into a schema
of this test's own, in the shape Agno's PostgresDb gives its tables (jsonb)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kern.db.in_memory import InMemoryDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.errors import ImportSourceError
from kern.importing import import_agno
from tests.conftest import POSTGRES_URL, postgres_table
from tests.contract.cli.conftest import run_kern
from tests.fixtures.agno.agno_sessions import assert_reads_as_agno, recorded
from tests.fixtures.agno.postgres_tables import drop_schema, load_agno_rows


@pytest.fixture
def agno_schema(postgres_schema: str) -> Iterator[str]:
    """A schema of this test's own holding the fixture's Agno tables and rows."""
    schema = f"agno_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    load_agno_rows(POSTGRES_URL, schema)
    yield schema
    drop_schema(POSTGRES_URL, schema)


def expected() -> dict[str, Any]:
    return recorded(postgres=True)


def test_sessions_import_from_a_postgres_schema(agno_schema: str) -> None:
    db = InMemoryDb()
    report = import_agno(POSTGRES_URL, db, schema=agno_schema)
    assert sorted(report.imported) == sorted(expected())
    for session_id, agno in expected().items():
        assert_reads_as_agno(db, session_id, agno)


def test_postgres_to_postgres_and_again(agno_schema: str, postgres_schema: str) -> None:
    with PostgresDb(POSTGRES_URL, postgres_table(), postgres_schema) as db:
        import_agno(POSTGRES_URL, db, schema=agno_schema)
        again = import_agno(POSTGRES_URL, db, schema=agno_schema)
        assert (again.imported, sorted(again.skipped)) == ([], sorted(expected()))
        for session_id, agno in expected().items():
            assert_reads_as_agno(db, session_id, agno)


def test_the_schema_is_agnos_default_unless_named(agno_schema: str) -> None:
    """The tables are looked for in "ai", Agno's db_schema, whatever the URL's
    search_path says: the schema is named in every query."""
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{agno_schema}"
    with pytest.raises(ImportSourceError, match=r"\(schema 'ai'\) has no table 'agno_sessions'"):
        import_agno(url, InMemoryDb())


def test_a_server_that_cannot_be_reached_is_refused_without_its_password() -> None:
    url = "postgresql://kern:s3cret-word@127.0.0.1:1/agno"
    db = InMemoryDb()
    with pytest.raises(ImportSourceError, match="cannot connect to the Agno database") as raised:
        import_agno(url, db)
    assert "s3cret-word" not in str(raised.value)
    assert "s3cret-word" not in raised.value.source
    assert db.store.session_ids() == []


def test_the_command_imports_from_postgres(
    agno_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "kern.db"
    argv = ["import-agno", "--from", POSTGRES_URL, "--from-schema", agno_schema, "--db"]
    result = run_kern(capsys, *argv, str(target), "--json")
    assert result.status == 0, result.err
    assert sorted(result.json()["imported"]) == sorted(expected())
    with SqliteDb(target) as db:
        for session_id, agno in expected().items():
            assert_reads_as_agno(db, session_id, agno)
