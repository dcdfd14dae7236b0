"""PostgreSQL tables carry a schema version: the first use brings them up to date,
once, in order, and tables from a newer Kern are refused untouched."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.adapters.stores import postgres_migrations
from kern.adapters.stores.migrations import Migration
from kern.db.postgres import PostgresDb
from kern.errors import (
    KernError,
    SchemaMigrationRequiredError,
    SchemaVersionError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, echo
from tests.fixtures import (
    SCHEMA_PLACEHOLDER,
    V1_POSTGRES,
    append_a_run,
    assert_reads_back,
    assert_same_open_runs,
    expected,
    leave_runs_open,
)

pytestmark = pytest.mark.postgres

Admin = psycopg.Connection[Any]
LATEST = len(postgres_migrations.MIGRATIONS)
GENEROUS = 5.0
"""Seconds: a third of the retry budget, so a retried call cannot pass unnoticed."""

EXTRA_COLUMN = Migration(
    version=LATEST + 1,
    summary="a column for a test",
    statements=("ALTER TABLE {schema}.{index} ADD COLUMN extra text",),
)


@pytest.fixture
def schema(admin: Admin) -> Iterator[str]:
    """A schema name of its own, not created yet; dropped after the test."""
    name = f"kern_mig_{uuid.uuid4().hex[:12]}"
    yield name
    admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def open_db(schema: str, table: str = "kern_sessions") -> PostgresDb:
    return PostgresDb(POSTGRES_URL, session_table=table, db_schema=schema)


def restore_v1(schema: str) -> None:
    """Load the dump of a database a Kern without schema versions wrote, into ``schema``."""
    dump = V1_POSTGRES.read_text().replace(SCHEMA_PLACEHOLDER, schema)
    # Its own connection: the dump empties search_path for the session.
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(dump.encode())


def versions(admin: Admin, schema: str, table: str = "kern_sessions") -> list[int]:
    """The versions recorded for the tables, in order."""
    rows = admin.execute(
        sql.SQL("SELECT version FROM {} ORDER BY version").format(
            sql.Identifier(schema, f"{table}_schema")
        )
    ).fetchall()
    return [row[0] for row in rows]


def layout(admin: Admin, schema: str) -> dict[str, Any]:
    """The schema's tables with their storage options and columns, its indexes,
    triggers and functions."""
    columns = admin.execute(
        "SELECT table_name, column_name, data_type, is_nullable, "
        "replace(column_default, %s, 'S') FROM information_schema.columns "
        "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        [schema, schema],
    ).fetchall()
    indexes = admin.execute(
        "SELECT indexname, replace(indexdef, %s, 'S') FROM pg_indexes WHERE schemaname = %s",
        [schema, schema],
    ).fetchall()
    triggers = admin.execute(
        "SELECT tgname, replace(pg_get_triggerdef(t.oid), %s, 'S') FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND NOT t.tgisinternal",
        [schema, schema],
    ).fetchall()
    functions = admin.execute(
        "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s",
        [schema],
    ).fetchall()
    options = admin.execute(
        "SELECT c.relname, c.reloptions FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
        [schema],
    ).fetchall()
    return {
        "options": sorted(options),
        "columns": columns,
        "indexes": sorted(indexes),
        "triggers": sorted(triggers),
        "functions": sorted(functions),
    }


def without_versions(found: dict[str, Any], table: str = "kern_sessions") -> dict[str, Any]:
    """``found`` less the version table, the tables of later migrations (2: segments,
    3: snapshots, 4: data keys and the erasure ledger, 6: the open-runs index), and
    their primary keys and indexes: what migration 1 made."""
    later = tuple(
        f"{table}_{kind}"
        for kind in ("schema", "segments", "snapshots", "keys", "erasures", "runs")
    )
    return {
        "options": [o for o in found["options"] if o[0] not in later],
        "columns": [c for c in found["columns"] if c[0] not in later],
        "indexes": [i for i in found["indexes"] if not i[0].startswith(later)],
        "triggers": found["triggers"],
        # Migration 5 replaced the append-only guard's body (purges): checked apart.
        "functions": [f for f in found["functions"] if f[0] != GUARD],
    }


GUARD = "kern_sessions_events_append_only"
"""The append-only guard function of the default session_table."""


@pytest.fixture
def with_extra_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """This Kern, plus a next version that adds a column to the listing."""
    monkeypatch.setattr(
        postgres_migrations, "MIGRATIONS", [*postgres_migrations.MIGRATIONS, EXTRA_COLUMN]
    )


@pytest.fixture
def v1_schema(schema: str) -> str:
    """A schema whose tables this Kern created, at the latest version, with one session."""
    with open_db(schema) as db:
        Workflow(name="Seed", db=db, steps=[echo]).run("hi", session_id="s1")
    return schema


# -- a database written before versioning ------------------------------------------------------


def test_a_database_written_before_versioning_is_adopted_and_reads_back(
    schema: str, admin: Admin
) -> None:
    """Version table present at the latest version; every session, run, state and name as
    it was; every hash chain verifies; a new run lands; the feed serves every event."""
    restore_v1(schema)
    with open_db(schema) as db:
        assert_reads_back(db, expected("v1_postgres"))
        assert versions(admin, schema) == list(range(1, LATEST + 1))
        listed = sorted(s.session_id for s in db.get_sessions())
        assert listed == ["alpha", "alpha-fork", "delta", "gamma"]  # beta was deleted
        append_a_run(db)
        feed = db.read_feed(limit=1000)
        stored = sum(len(db.get_events(sid)) for sid in expected("v1_postgres"))
        assert len(feed) == stored
        assert [e.event.version for e in feed if e.event.session_id == "alpha"][-3:] == [12, 13, 14]


def test_adoption_changes_none_of_the_old_tables(schema: str, admin: Admin) -> None:
    """Version 1 is exactly the old layout: the restored tables, indexes, triggers and
    functions are untouched, and a new database gets the same ones, less the two objects
    of eventsourcing's that Kern never used."""
    restore_v1(schema)
    before = layout(admin, schema)
    open_db(schema).get_sessions()
    after = layout(admin, schema)
    assert without_versions(after) == without_versions(before)
    (guard,) = [body for name, body in after["functions"] if name == GUARD]
    assert "current_setting('kern.purge_session', true) = OLD.originator_id" in guard
    assert "is append-only" in guard
    assert [c[1] for c in after["columns"] if c[0] == "kern_sessions_schema"] == [
        "version",
        "summary",
        "applied_at",
    ]
    assert [c[1] for c in after["columns"] if c[0] == "kern_sessions_snapshots"] == [
        "session_id",
        "version",
        "format",
        "head_hash",
        "checksum",
        "body",
    ]
    fresh = f"{schema}_new"
    try:
        open_db(fresh).get_sessions()
        unused = {"es_insert_events_text"}
        new = without_versions(layout(admin, fresh))
        old = without_versions(before)
        old["functions"] = [f for f in old["functions"] if f[0] not in unused]
        assert new == old
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(fresh)))


# -- migrations applied in order, once ----------------------------------------------------------


def test_a_new_database_records_every_version_once(schema: str, admin: Admin) -> None:
    for _ in range(3):
        with open_db(schema) as db:
            db.get_sessions()
    assert versions(admin, schema) == list(range(1, LATEST + 1))


def test_a_new_migration_upgrades_an_existing_database_once(
    v1_schema: str, admin: Admin, with_extra_column: None
) -> None:
    """The next version runs on first use; opening again applies nothing (adding the column
    twice would fail); the data stays readable and writable."""
    with open_db(v1_schema) as db:
        assert db.get_session("s1") is not None
    assert versions(admin, v1_schema) == list(range(1, LATEST + 2))
    before = layout(admin, v1_schema)
    assert "extra" in [c[1] for c in before["columns"] if c[0] == "kern_sessions_index"]
    with open_db(v1_schema) as db:
        Workflow(name="Seed", db=db, steps=[echo]).run("again", session_id="s1")
    assert layout(admin, v1_schema) == before
    assert versions(admin, v1_schema) == list(range(1, LATEST + 2))


def test_migrations_run_in_their_order(
    v1_schema: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second test version indexes the column the first adds: it only works after it."""
    index_extra = Migration(
        version=LATEST + 2,
        summary="an index for a test",
        statements=("CREATE INDEX kern_sessions_index_extra ON {schema}.{index} (extra)",),
    )
    monkeypatch.setattr(
        postgres_migrations,
        "MIGRATIONS",
        [*postgres_migrations.MIGRATIONS, EXTRA_COLUMN, index_extra],
    )
    open_db(v1_schema).get_sessions()
    assert versions(admin, v1_schema) == list(range(1, LATEST + 3))
    assert "kern_sessions_index_extra" in [i[0] for i in layout(admin, v1_schema)["indexes"]]


def test_a_failing_migration_changes_nothing(
    v1_schema: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first statement ran, its second failed: both are rolled back, the
    version stays the latest,
    and the error (permanent) comes at once."""
    broken = Migration(
        version=LATEST + 1,
        summary="a broken migration",
        statements=(
            "ALTER TABLE {schema}.{index} ADD COLUMN extra text",
            "ALTER TABLE {schema}.nowhere ADD COLUMN x text",
        ),
    )
    monkeypatch.setattr(
        postgres_migrations, "MIGRATIONS", [*postgres_migrations.MIGRATIONS, broken]
    )
    before = layout(admin, v1_schema)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r'relation "[^"]*nowhere" does not exist'):
        open_db(v1_schema).get_sessions()
    assert time.monotonic() - started < GENEROUS
    assert layout(admin, v1_schema) == before
    assert versions(admin, v1_schema) == list(range(1, LATEST + 1))


# -- tables from a newer Kern ------------------------------------------------------------------


def test_tables_from_a_newer_kern_are_refused_untouched(v1_schema: str, admin: Admin) -> None:
    admin.execute(
        sql.SQL("INSERT INTO {} (version, summary) VALUES (%s, 'from the future')").format(
            sql.Identifier(v1_schema, "kern_sessions_schema")
        ),
        [LATEST + 1],
    )
    before = layout(admin, v1_schema)
    db = open_db(v1_schema)
    started = time.monotonic()
    with pytest.raises(SchemaVersionError) as raised:
        db.get_session("s1")
    assert time.monotonic() - started < GENEROUS
    message = str(raised.value)
    assert f"schema version {LATEST + 1}" in message
    assert f"knows versions up to {LATEST}" in message
    assert f"{v1_schema}.kern_sessions_schema" in message and "nothing was changed" in message
    assert layout(admin, v1_schema) == before
    assert versions(admin, v1_schema) == [*range(1, LATEST + 1), LATEST + 1]
    with pytest.raises(SchemaVersionError):  # every use, not only the first
        db.get_sessions()
    db.close()


def test_many_openers_upgrading_at_once_run_the_migration_once(
    v1_schema: str, admin: Admin, with_extra_column: None
) -> None:
    """Six stores' first uses race; the next version (which would fail if run twice) runs once,
    under the advisory lock, and every opener sees it."""
    start = threading.Barrier(6, timeout=30)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            with open_db(v1_schema) as db:
                start.wait()
                db.get_sessions()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert versions(admin, v1_schema) == list(range(1, LATEST + 2))


# -- migrate=False: nothing created, nothing changed ------------------------------------------


def test_migrate_false_creates_no_schema(schema: str, admin: Admin) -> None:
    with (
        pytest.raises(StoreNotFoundError, match=f"no schema {schema!r}") as raised,
        PostgresDb(POSTGRES_URL, db_schema=schema, migrate=False) as db,
    ):
        db.get_sessions()
    assert str(raised.value).startswith("no Kern store here: PostgreSQL at ")
    found = admin.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema])
    assert found.fetchone() == (0,)


def test_migrate_false_refuses_tables_behind_the_code(
    v1_schema: str, admin: Admin, with_extra_column: None
) -> None:
    before = layout(admin, v1_schema)
    with (
        pytest.raises(SchemaMigrationRequiredError, match="migrate=False"),
        PostgresDb(POSTGRES_URL, db_schema=v1_schema, migrate=False) as db,
    ):
        db.get_sessions()
    assert layout(admin, v1_schema) == before


def test_migrate_false_refuses_tables_from_before_versioning(schema: str, admin: Admin) -> None:
    """Kern's tables without a version table are a store to migrate, not a missing one."""
    restore_v1(schema)
    before = layout(admin, schema)
    with (
        pytest.raises(SchemaMigrationRequiredError, match="at schema version 0"),
        PostgresDb(POSTGRES_URL, db_schema=schema, migrate=False) as db,
    ):
        db.get_sessions()
    assert layout(admin, schema) == before


# -- migration 6: the open-runs index -------------------------------------------------------


def test_migration_6_fills_the_open_runs_index_from_the_logs(schema: str, admin: Admin) -> None:
    """A store from before the index lists the runs its logs leave open (a deleted
    session's not), with the version and time of their last events."""
    db = open_db(schema)
    parked = leave_runs_open(db)
    wanted = db.get_interrupted_runs(timedelta(0))
    db.close()
    admin.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "kern_sessions_runs")))
    admin.execute(
        sql.SQL("DELETE FROM {} WHERE version = 6").format(
            sql.Identifier(schema, "kern_sessions_schema")
        )
    )
    assert versions(admin, schema) == list(range(1, 6))

    with open_db(schema) as db:
        found = db.get_interrupted_runs(timedelta(0))
        assert versions(admin, schema) == list(range(1, LATEST + 1))
        assert [(r.session_id, r.run_id) for r in found] == [("a", "a-1"), ("b", "b-1")]
        assert_same_open_runs(found, wanted)
    for events in parked:
        with contextlib.suppress(KernError):
            events.close()
