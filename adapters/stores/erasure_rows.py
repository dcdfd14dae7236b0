"""The erasure ledger table (migration 4 of each dialect): its rows and statements."""

from __future__ import annotations

import json
from typing import Any

from kern.domain.erasure import ErasureEntry

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
    """Recording ``entry``."""
    statement = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"
    )
    detail = json.dumps(entry.detail, sort_keys=True, separators=(",", ":"))
    return statement, [
        entry.erasure_id,
        entry.erased_at,
        entry.kind,
        entry.subject,
        entry.sessions,
        detail,
        entry.reason,
        entry.requested_by,
    ]


def select_all(table: str) -> str:
    """Every entry, oldest first."""
    return f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY erased_at, erasure_id"


def to_entry(row: Any) -> ErasureEntry:
    """The entry a row (a mapping by column name) holds."""
    return ErasureEntry(
        kind=row["kind"],
        subject=row["subject"],
        sessions=int(row["sessions"]),
        reason=row["reason"],
        requested_by=row["requested_by"],
        detail=json.loads(row["detail"]),
        erasure_id=row["erasure_id"],
        erased_at=float(row["erased_at"]),
    )
