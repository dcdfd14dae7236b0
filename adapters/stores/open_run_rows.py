"""The open-runs index (migration 6 of each dialect): its statements and rows.

Both SQL stores run these with their own parameter placeholder (``mark``);
table names come already quoted or checked. SQLite runs the writes one by
one inside the append's transaction; PostgreSQL folds them into its one
append statement (``kern.adapters.stores.postgres_recorder``).
"""

from __future__ import annotations

from typing import Any

from kern.projections.open_runs import InterruptedRun, OpenRunChanges, OpenRunRow


def writes(table: str, changes: OpenRunChanges, *, mark: str) -> list[tuple[str, list[Any]]]:
    """The statements that apply ``changes`` to the index, in order."""
    session_id = changes.session_id
    statements: list[tuple[str, list[Any]]] = []
    if changes.session_deleted:
        statements.append((f"DELETE FROM {table} WHERE session_id = {mark}", [session_id]))
    statements += [
        (f"DELETE FROM {table} WHERE session_id = {mark} AND run_id = {mark}", [session_id, run])
        for run in changes.ended
    ]
    statements += [(upsert(table, mark=mark), _values(row)) for row in changes.written]
    return statements


def upsert(table: str, *, mark: str) -> str:
    """Insert a run's row, or replace its last version and time."""
    return (
        f"INSERT INTO {table} (session_id, run_id, last_version, last_at) "
        f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (session_id, run_id) "
        "DO UPDATE SET last_version = excluded.last_version, last_at = excluded.last_at"
    )


def _values(row: OpenRunRow) -> list[Any]:
    return [row.session_id, row.run_id, row.last_version, row.last_at]


def select(table: str, index: str, *, mark: str, user: bool, run: bool, live: str) -> str:
    """The open runs of live sessions whose last event came before a time (the
    first parameter), then of one user's sessions and of one run_id when
    ``user`` and ``run`` say so; the oldest first. ``live`` is the dialect's
    test of a listing row that is not deleted."""
    statement = (
        f"SELECT r.session_id, r.run_id, r.last_version, r.last_at, i.user_id, i.workflow_id "
        f"FROM {table} r JOIN {index} i ON i.session_id = r.session_id "
        f"WHERE r.last_at < {mark} AND {live}"
    )
    if user:
        statement += f" AND i.user_id = {mark}"
    if run:
        statement += f" AND r.run_id = {mark}"
    return statement + " ORDER BY r.last_at, r.session_id, r.run_id"


def to_run(row: Any) -> InterruptedRun:
    """The interrupted run a selected row (a mapping by column name) describes."""
    return InterruptedRun.of(
        OpenRunRow(row["session_id"], row["run_id"], row["last_version"], row["last_at"]),
        row["user_id"],
        row["workflow_id"],
    )


def delete_session(table: str, session_id: str, *, mark: str) -> tuple[str, list[Any]]:
    """A purge's delete of the session's rows."""
    return f"DELETE FROM {table} WHERE session_id = {mark}", [session_id]
