"""The PostgreSQL store's table layouts, version by version, and how an open applies
them (see :mod:`kern.adapters.stores.migrations`).

Placeholders, each composed as a quoted identifier: ``{schema}``, ``{events}``,
``{index}``, and the names derived from them (:func:`placeholders`).

Migration 1 is the layout Kern created before versioning, less two objects
eventsourcing's recorder added that Kern never used: the composite type
``stored_event_text`` and the function ``es_insert_events_text`` (Kern appends
with its own statement). Databases that have them keep them; nothing reads them.
"""

from __future__ import annotations

import contextlib

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.rows import DictRow

from kern.adapters.stores.identifiers import MAX_IDENTIFIER_BYTES, TableNames
from kern.adapters.stores.migrations import Migration, apply, pending
from kern.domain.errors import SchemaMigrationRequiredError, StoreNotFoundError

MIGRATE_LOCK = "kern:create-tables"
"""The advisory lock every opener takes to migrate; the key Kern used to create
tables before versioning, so old and new processes starting at once wait for
each other too."""

MIGRATIONS: list[Migration] = [
    Migration(
        version=1,
        summary="the event log (eventsourcing's stored-events table), append-only, "
        "with the feed's transaction ids; the listing index",
        statements=(
            "CREATE TABLE IF NOT EXISTS {schema}.{events} ("
            "originator_id text NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version)) WITH ("
            "autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
            "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.01)",
            "CREATE UNIQUE INDEX IF NOT EXISTS {notification_index} "
            "ON {schema}.{events} (notification_id ASC)",
            "CREATE OR REPLACE FUNCTION {schema}.{guard}() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
            "'the session event log %.% is append-only: % is not allowed', "
            "TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$",
            "CREATE OR REPLACE TRIGGER {no_change} BEFORE UPDATE OR DELETE ON "
            "{schema}.{events} FOR EACH ROW EXECUTE FUNCTION {schema}.{guard}()",
            "CREATE OR REPLACE TRIGGER {no_truncate} BEFORE TRUNCATE ON "
            "{schema}.{events} FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{guard}()",
            # The store-wide feed's order: (appending transaction, notification id),
            # served only below the oldest transaction still running (read_feed).
            "ALTER TABLE {schema}.{events} ADD COLUMN IF NOT EXISTS transaction_id xid8 "
            "NOT NULL DEFAULT pg_current_xact_id()",
            "CREATE INDEX IF NOT EXISTS {feed} ON {schema}.{events} "
            "(transaction_id, notification_id)",
            "CREATE TABLE IF NOT EXISTS {schema}.{index} ("
            "session_id text PRIMARY KEY, user_id text, workflow_id text, "
            "workflow_name text, session_name text NOT NULL DEFAULT '', "
            "session_name_key text NOT NULL DEFAULT '', "
            "created_at double precision NOT NULL, updated_at double precision NOT NULL, "
            "version bigint NOT NULL CHECK (version > 0), "
            "deleted boolean NOT NULL DEFAULT false)",
            "CREATE INDEX IF NOT EXISTS {index_created} ON {schema}.{index} (created_at) "
            "WHERE NOT deleted",
            "CREATE INDEX IF NOT EXISTS {index_updated} ON {schema}.{index} (updated_at) "
            "WHERE NOT deleted",
            "CREATE INDEX IF NOT EXISTS {index_user} ON {schema}.{index} "
            "(user_id, created_at) WHERE NOT deleted",
            "CREATE INDEX IF NOT EXISTS {index_workflow} ON {schema}.{index} "
            "(workflow_id, created_at) WHERE NOT deleted",
        ),
    ),
    Migration(
        version=2,
        summary="read-model segments: finished runs of the session read model, derived "
        "from the log and never trusted by verify",
        statements=(
            "CREATE TABLE {schema}.{segments} (session_id text NOT NULL, "
            "version bigint NOT NULL, hash text NOT NULL, previous bigint NOT NULL, "
            "previous_hash text NOT NULL, runs_before bigint NOT NULL, runs bigint NOT NULL, "
            "body bytea NOT NULL, PRIMARY KEY (session_id, version))",
        ),
    ),
    Migration(
        version=3,
        summary="session snapshots: derived data, one row per session, never trusted",
        statements=(
            "CREATE TABLE {schema}.{snapshots} (session_id text PRIMARY KEY, "
            "version bigint NOT NULL, format integer NOT NULL, head_hash text NOT NULL, "
            "checksum text NOT NULL, body bytea NOT NULL)",
        ),
    ),
    Migration(
        version=4,
        summary="data keys (one per session, with its owner, wrapped by the master key) "
        "and the erasure ledger",
        statements=(
            "CREATE TABLE {schema}.{keys} (session_id text PRIMARY KEY, owner text, "
            "key_id text NOT NULL UNIQUE, master_key_id text NOT NULL, "
            "wrapped bytea NOT NULL, created_at double precision NOT NULL)",
            "CREATE INDEX {keys_owner} ON {schema}.{keys} (owner)",
            "CREATE TABLE {schema}.{erasures} (erasure_id text PRIMARY KEY, "
            "erased_at double precision NOT NULL, kind text NOT NULL, subject text NOT NULL, "
            "sessions bigint NOT NULL, detail text NOT NULL, reason text NOT NULL, "
            "requested_by text NOT NULL)",
        ),
    ),
    Migration(
        version=5,
        summary="purge: the append-only guard lets a row go only in a transaction that "
        "set kern.purge_session to its session; UPDATE and TRUNCATE stay refused",
        statements=(
            "CREATE OR REPLACE FUNCTION {schema}.{guard}() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN "
            "IF current_setting('kern.purge_session', true) = OLD.originator_id THEN "
            "RETURN OLD; END IF; END IF; "
            "RAISE EXCEPTION "
            "'the session event log %.% is append-only: % is not allowed', "
            "TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$",
        ),
    ),
    Migration(
        version=6,
        summary="the open-runs index: each run started and not ended, with the version "
        "and time of its last event, filled from the logs of the live sessions",
        statements=(
            "CREATE TABLE {schema}.{runs} (session_id text NOT NULL, run_id text NOT NULL, "
            "last_version bigint NOT NULL, last_at double precision NOT NULL, "
            "PRIMARY KEY (session_id, run_id))",
            "CREATE INDEX {runs_last} ON {schema}.{runs} (last_at)",
            # Ids and timestamps are never sealed: this reads encrypted logs too. The
            # json type (not jsonb) takes any escape a stored text may hold.
            "INSERT INTO {schema}.{runs} (session_id, run_id, last_version, last_at) "
            "SELECT e.originator_id, convert_from(e.state, 'UTF8')::json ->> 'run_id', "
            "max(e.originator_version), max(extract(epoch FROM "
            "(convert_from(e.state, 'UTF8')::json ->> 'timestamp')::timestamptz)) "
            "FROM {schema}.{events} e JOIN {schema}.{index} i "
            "ON i.session_id = e.originator_id AND NOT i.deleted "
            "WHERE e.topic IN ('kern.domain.events:RunStarted', "
            "'kern.domain.events:StepCompleted', 'kern.domain.events:RunCompleted') "
            "GROUP BY 1, 2 "
            "HAVING count(*) FILTER (WHERE e.topic = 'kern.domain.events:RunCompleted') = 0",
        ),
    ),
]
"""Every layout so far; append a migration to change the tables, never edit one."""


def derived_name(base: str, suffix: str) -> str:
    """``base + suffix``, with ``base`` cut so the whole fits PostgreSQL's 63 bytes.

    PostgreSQL would truncate a longer name from the end, so two names that
    differ only in their suffix could collapse into one.
    """
    return base[: MAX_IDENTIFIER_BYTES - len(suffix)] + suffix


def placeholders(schema: str, names: TableNames) -> dict[str, sql.Identifier]:
    """What each placeholder of a migration statement stands for."""
    events, index = names.events, names.index
    # The index names below are not cut: PostgreSQL cuts them as it always did.
    return {
        "schema": sql.Identifier(schema),
        "events": sql.Identifier(events),
        "index": sql.Identifier(index),
        "segments": sql.Identifier(names.segments),
        "snapshots": sql.Identifier(names.snapshots),
        "keys": sql.Identifier(names.keys),
        "keys_owner": sql.Identifier(derived_name(names.keys, "_owner")),
        "erasures": sql.Identifier(names.erasures),
        "runs": sql.Identifier(names.runs),
        "runs_last": sql.Identifier(derived_name(names.runs, "_last")),
        "notification_index": sql.Identifier(f"{events}_notification_id_idx"),
        "guard": sql.Identifier(derived_name(events, "_append_only")),
        "no_change": sql.Identifier(derived_name(events, "_no_change")),
        "no_truncate": sql.Identifier(derived_name(events, "_no_truncate")),
        "feed": sql.Identifier(derived_name(events, "_feed")),
        **{
            f"index_{suffix}": sql.Identifier(f"{index}_{suffix}")
            for suffix in ("created", "updated", "user", "workflow")
        },
    }


def recorded_version(conn: psycopg.Connection[DictRow], schema: str, names: TableNames) -> int:
    """The last version applied to these tables (0: none recorded)."""
    versions = sql.Identifier(schema, names.schema_versions)
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS present", [versions.as_string(conn)]
    ).fetchone()
    if row is None or not row["present"]:
        return 0
    row = conn.execute(
        sql.SQL("SELECT max(version) AS version FROM {}").format(versions)
    ).fetchone()
    return int(row["version"] or 0) if row is not None else 0


def migrate(
    datastore: PostgresDatastore,
    schema: str,
    names: TableNames,
    *,
    where: str,
    allowed: bool = True,
) -> list[int]:
    """Bring the tables to the latest version; the versions applied (see the module doc).

    Tables already at the latest version need only SELECT on the version table,
    so a least-privilege application role opens them. When they are behind,
    SchemaMigrationRequiredError is raised if migrating is not ``allowed``, or
    if the role lacks the privileges to do it; when there are no tables at all
    (nor perhaps the schema) and migrating is not ``allowed``, StoreNotFoundError,
    with nothing created."""
    migrations = MIGRATIONS
    with datastore.get_connection() as conn:  # an autocommit connection
        found = recorded_version(conn, schema, names)
        if not pending(found, migrations, where=where):
            return []
        if not allowed:
            if found == 0:
                _require_tables(conn, schema, names, where)
            raise _migration_required(where, found, "this store was opened with migrate=False")
        try:
            return _migrate_locked(conn, schema, names, migrations, where)
        except psycopg.errors.InsufficientPrivilege as exc:
            reason = " ".join(str(exc).split())
            raise _migration_required(where, found, f"this role may not: {reason}") from None


def _require_tables(
    conn: psycopg.Connection[DictRow], schema: str, names: TableNames, where: str
) -> None:
    """StoreNotFoundError unless ``schema`` holds these tables (as a Kern from before
    schema versions left them, with no version table)."""
    row = conn.execute(
        "SELECT to_regnamespace(%s) IS NOT NULL AS schema, to_regclass(%s) IS NOT NULL AS events",
        [schema, sql.Identifier(schema, names.events).as_string(conn)],
    ).fetchone()
    if row is not None and row["events"]:
        return
    missing = f"no table {names.schema_versions}"
    if row is None or not row["schema"]:
        missing = f"no schema {schema!r}"
    raise StoreNotFoundError(
        f"no Kern store here: {where}: {missing} (check the schema and the session_table); "
        "nothing was created"
    )


def _migration_required(where: str, found: int, why: str) -> SchemaMigrationRequiredError:
    return SchemaMigrationRequiredError(
        f"{where} is at schema version {found} and this Kern needs version "
        f"{len(MIGRATIONS)}; {why}. Run the migrations as the owner role (open the "
        "store once as that role), then open it again; nothing was changed"
    )


def _migrate_locked(
    conn: psycopg.Connection[DictRow],
    schema: str,
    names: TableNames,
    migrations: list[Migration],
    where: str,
) -> list[int]:
    # The lock is taken before the transaction begins, so the transaction's
    # catalog snapshot sees what the previous holder committed (an advisory
    # lock taken inside the transaction would leave that snapshot stale).
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [MIGRATE_LOCK])
    try:
        with conn.transaction():
            return _apply(conn, schema, names, migrations, where)
    finally:
        # A broken connection has released the lock already.
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [MIGRATE_LOCK])


def _apply(
    conn: psycopg.Connection[DictRow],
    schema: str,
    names: TableNames,
    migrations: list[Migration],
    where: str,
) -> list[int]:
    names_of = placeholders(schema, names)
    versions = sql.Identifier(schema, names.schema_versions)
    # Only when missing: CREATE SCHEMA needs the database's CREATE privilege even
    # when the schema exists, which an owner role given just its schema lacks.
    row = conn.execute("SELECT to_regnamespace(%s) IS NULL AS missing", [schema]).fetchone()
    if row is not None and row["missing"]:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(names_of["schema"]))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, summary text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(versions)
    )
    return apply(
        recorded_version(conn, schema, names),
        migrations,
        where=where,
        execute=lambda statement: _execute(conn, sql.SQL(statement).format(**names_of)),
        record=lambda m: _execute(
            conn,
            sql.SQL("INSERT INTO {} (version, summary) VALUES (%s, %s)").format(versions),
            [m.version, m.summary],
        ),
    )


def _execute(
    conn: psycopg.Connection[DictRow], statement: sql.Composed, params: list[object] | None = None
) -> None:
    conn.execute(statement, params, prepare=False)


def app_role_grants(schema: str, names: TableNames, role: str) -> list[str]:
    """The statements, run by the owner role once the tables are migrated, that let
    ``role`` use Kern and nothing more: read and append events (and draw their
    notification ids), maintain the listing rows, the open-runs index and the
    read-model segments, read the schema version.

    No UPDATE, DELETE or TRUNCATE on the events and no ownership, so the role can
    neither rewrite the log nor disable its append-only triggers (that needs the
    owner)."""

    def name(*parts: str) -> str:
        return ".".join(sql.Identifier(p).as_string(None) for p in parts)

    events = name(schema, names.events)
    return [
        f"GRANT USAGE ON SCHEMA {name(schema)} TO {name(role)}",
        f"GRANT SELECT, INSERT ON {events} TO {name(role)}",
        f"GRANT SELECT, INSERT, UPDATE ON {name(schema, names.index)} TO {name(role)}",
        # The open-runs index: rows come and go with the runs.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name(schema, names.runs)} TO {name(role)}",
        f"GRANT SELECT ON {name(schema, names.schema_versions)} TO {name(role)}",
        # Derived data the role may rebuild: nothing trusts it.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name(schema, names.segments)} TO {name(role)}",
        # Snapshots are derived data the role writes and drops (never trusted).
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name(schema, names.snapshots)} TO {name(role)}",
        # A data key is created on a subject's first event, and destroyed by an erasure.
        f"GRANT SELECT, INSERT, DELETE ON {name(schema, names.keys)} TO {name(role)}",
        # The ledger only grows: the role records erasures, never changes one.
        f"GRANT SELECT, INSERT ON {name(schema, names.erasures)} TO {name(role)}",
        # The bigserial's sequence, by whatever name PostgreSQL gave it.
        "DO $$ BEGIN EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', "
        f"pg_get_serial_sequence('{events}', 'notification_id'), '{role}'); END $$",
    ]
