"""The snapshots table (migration 3 of each dialect): its rows and statements.

One row per session (:class:`kern.projections.snapshots.SnapshotRow`), the
newest snapshot only. Both SQL stores run these statements with their own
parameter placeholder; the table name comes already quoted or checked.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from kern.projections.snapshots import SnapshotRow

COLUMNS = ("session_id", "version", "format", "head_hash", "checksum", "body")


def to_snapshot(row: Any) -> SnapshotRow:
    """The snapshot a row (a mapping by column name) holds; the body as bytes,
    whatever the driver returned."""
    values = {column: row[column] for column in COLUMNS}
    body = values["body"]
    values["body"] = bytes(body) if not isinstance(body, str) else body.encode()
    return SnapshotRow(**values)


def select(table: str, *, mark: str) -> str:
    """The session's snapshot row."""
    return f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE session_id = {mark}"


def save(table: str, row: SnapshotRow, *, mark: str) -> tuple[str, list[Any]]:
    """Storing ``row`` unless the session's stored snapshot is as new or newer."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    statement = (
        f"INSERT INTO {table} AS s ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(COLUMNS))}) ON CONFLICT (session_id) "
        f"DO UPDATE SET {updates} WHERE excluded.version > s.version"
    )
    return statement, list(astuple(row))


def drop(table: str, row: SnapshotRow, *, mark: str) -> tuple[str, list[Any]]:
    """Deleting the session's snapshot if it is still exactly ``row``."""
    statement = (
        f"DELETE FROM {table} WHERE session_id = {mark} AND version = {mark} AND checksum = {mark}"
    )
    return statement, [row.session_id, row.version, row.checksum]
