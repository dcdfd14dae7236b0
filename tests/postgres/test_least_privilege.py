"""Least privilege: an owner role migrates the tables, an application role given
only ``app_role_grants`` runs Kern normally and cannot rewrite the log nor turn
off its guard. Roles are created per test with unique names and dropped after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from kern.db.postgres import PostgresDb, app_role_grants
from kern.errors import SchemaMigrationRequiredError, StoreError, StoreNotFoundError
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, echo, shout


@dataclass(frozen=True)
class Roles:
    """An owner and an application role, a schema the owner owns, a table name."""

    owner: str
    app: str
    schema: str
    table: str

    def open(self, role: str, **kwargs: Any) -> PostgresDb:
        """A PostgresDb on these tables as ``role``."""
        return PostgresDb(_as_url(role), session_table=self.table, db_schema=self.schema, **kwargs)


def _as_url(role: str) -> str:
    """POSTGRES_URL with its user replaced by ``role``."""
    scheme, rest = POSTGRES_URL.split("://", 1)
    host = rest.split("@", 1)[1] if "@" in rest else rest
    return f"{scheme}://{role}@{host}"


@pytest.fixture
def roles(admin: psycopg.Connection[Any]) -> Iterator[Roles]:
    """Two login roles and a schema owned by the first; all dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    made = Roles(f"kern_owner_{suffix}", f"kern_app_{suffix}", f"kern_lp_{suffix}", "sessions")
    owner, app, schema = (sql.Identifier(n) for n in (made.owner, made.app, made.schema))
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(owner))
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(app))
    admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, owner))
    try:
        yield made
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        for role in (app, owner):
            admin.execute(sql.SQL("DROP OWNED BY {}").format(role))
            admin.execute(sql.SQL("DROP ROLE {}").format(role))


@pytest.fixture
def migrated(roles: Roles) -> Roles:
    """The owner has created the tables and granted the application role its rights."""
    with roles.open(roles.owner) as owner_db:
        assert owner_db.verify().ok  # the first use migrates
    with psycopg.connect(_as_url(roles.owner), autocommit=True) as owner:
        for statement in app_role_grants(roles.app, roles.table, roles.schema):
            owner.execute(statement)
    return roles


@pytest.fixture
def as_app(migrated: Roles) -> Iterator[psycopg.Connection[Any]]:
    """A raw connection as the application role, to try what Kern never does."""
    with psycopg.connect(_as_url(migrated.app), autocommit=True) as connection:
        yield connection


def events_table(roles: Roles) -> sql.Composed:
    return sql.SQL("{}.{}").format(
        sql.Identifier(roles.schema), sql.Identifier(f"{roles.table}_events")
    )


def test_the_application_role_runs_a_workflow(migrated: Roles) -> None:
    """Runs recorded and read back, the session renamed and listed, verify ok."""
    with migrated.open(migrated.app) as db:
        workflow = Workflow(steps=[echo, shout], db=db)
        workflow.run(input="hello", session_id="s1", user_id="alice")
        workflow.run(input="again", session_id="s1", user_id="alice")
        workflow.set_session_name(session_id="s1", session_name="Notes")

        session = workflow.get_session(session_id="s1", user_id="alice")
        assert session is not None and len(session.runs or []) == 2
        assert [s.session_id for s in db.get_sessions(user_id="alice")] == ["s1"]
        workflow.run(input="brief", session_id="s2", user_id="alice")
        assert db.delete_session("s2", user_id="alice")  # a tombstone: an insert and an update
        assert [s.session_id for s in db.get_sessions(user_id="alice")] == ["s1"]
        assert db.verify().ok


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {events}",
        "TRUNCATE {events}",
        "UPDATE {events} SET topic = topic",
        "ALTER TABLE {events} DISABLE TRIGGER USER",
        "ALTER TABLE {events} DISABLE TRIGGER ALL",
        "DROP TABLE {events}",
    ],
)
def test_the_application_role_cannot_change_the_log(
    migrated: Roles, as_app: psycopg.Connection[Any], statement: str
) -> None:
    """Refused for want of privilege (not by the append-only trigger, which the
    owner could disable)."""
    with migrated.open(migrated.app) as db:
        Workflow(steps=[echo], db=db).run(input="hello", session_id="s1")

    with pytest.raises(errors.InsufficientPrivilege) as refused:
        as_app.execute(sql.SQL(statement).format(events=events_table(migrated)))

    assert "append-only" not in str(refused.value)
    assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)


def test_the_owner_role_can_disable_the_guard(migrated: Roles) -> None:
    """Why the application role must not be the owner: the owner can."""
    with psycopg.connect(_as_url(migrated.owner), autocommit=True) as owner:
        table = events_table(migrated)
        owner.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(table))
        owner.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(table))


def test_the_application_role_cannot_create_the_tables(
    roles: Roles, admin: psycopg.Connection[Any]
) -> None:
    """Tables not yet migrated: a typed error that says who must migrate them."""
    admin.execute(
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(roles.schema), sql.Identifier(roles.app)
        )
    )
    with (
        pytest.raises(SchemaMigrationRequiredError, match="Run the migrations as the owner role"),
        roles.open(roles.app) as db,
    ):
        db.verify()


def test_migrate_false_creates_no_tables(roles: Roles) -> None:
    """Even the owner, told not to migrate, changes nothing: a schema without the
    tables is no Kern store."""
    with (
        pytest.raises(StoreNotFoundError, match=f"no table {roles.table}_schema"),
        roles.open(roles.owner, migrate=False) as db,
    ):
        db.verify()
    with psycopg.connect(POSTGRES_URL) as connection:
        found = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", [roles.schema]
        ).fetchone()
    assert found == (0,)


def test_migrate_false_opens_current_tables(migrated: Roles) -> None:
    with migrated.open(migrated.app, migrate=False) as db:
        assert db.verify().ok


def test_the_application_role_cannot_purge(migrated: Roles) -> None:
    """A purge is the owner's: the application role may not delete from the log, so
    its purge fails and nothing changes (not the events, not the ledger)."""
    with migrated.open(migrated.app) as db:
        Workflow(steps=[echo], db=db).run(input="hello", session_id="s1")
        before = db.store.read_records("s1")
        with pytest.raises(StoreError, match="permission denied"):
            db.purge_session("s1", reason="ticket 1", requested_by="app")
        assert db.store.read_records("s1") == before
        assert db.store.listing_row("s1") is not None
        assert db.erasures() == []
    with migrated.open(migrated.owner) as owner_db:
        owner_db.purge_session("s1", reason="ticket 1", requested_by="dpo")
        assert owner_db.store.read_records("s1") == []
