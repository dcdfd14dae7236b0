"""The erasure ledger (migration 4 of each dialect) and the purge's statements.

Both SQL stores run these statements with their own parameter placeholder;
table names come already quoted or checked.
"""

from __future__ import annotations

from typing import Any

from kern.domain.erasure import ErasureEntry, entry_from_row

COLUMNS = (
    "erasure_id",
    "erased_at",
    "kind",
    "subject",
    "sessions",
    "detail",
    "reason",
    "requested_by",
)


def insert(table: str, entry: ErasureEntry, *, mark: str) -> tuple[str, list[Any]]:
    """The ledger row of ``entry``."""
    marks = ", ".join([mark] * len(COLUMNS))
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})", [
        entry.erasure_id,
        entry.erased_at_seconds,
        entry.kind,
        entry.subject,
        entry.sessions,
        entry.detail_json,
        entry.reason,
        entry.requested_by,
    ]


def select(table: str) -> str:
    """Every ledger row, oldest first."""
    return f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY erased_at, erasure_id"


def to_entry(row: Any) -> ErasureEntry:
    """The entry a row (a mapping by column name) holds."""
    return entry_from_row(*(row[column] for column in COLUMNS))


def purge_deletes(
    session_id: str, *, index: str, segments: str, snapshots: str, keys: str, mark: str
) -> list[tuple[str, list[Any]]]:
    """Besides the events: the session's listing row, segments, snapshot and data key."""
    return [
        (f"DELETE FROM {index} WHERE session_id = {mark}", [session_id]),
        (f"DELETE FROM {keys} WHERE session_id = {mark}", [session_id]),
        (f"DELETE FROM {segments} WHERE session_id = {mark}", [session_id]),
        (f"DELETE FROM {snapshots} WHERE session_id = {mark}", [session_id]),
    ]
