"""The read-model segments table (migration 2 of each dialect): its rows and statements.

One row per segment (:class:`kern.projections.segments.ReadSegment`), keyed by
session and last version. Segments are derived data: a store writes them
when a reader asks, replaces the ones a new chain no longer continues, and
nothing but the read model's reader uses them (verify reads the log).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kern.projections.segments import ReadSegment

COLUMNS = (
    "session_id",
    "version",
    "hash",
    "previous",
    "previous_hash",
    "runs_before",
    "runs",
    "body",
)


def to_segment(row: Any) -> ReadSegment:
    """The segment a row (a mapping by column name) holds; the body as bytes,
    whatever the driver returned."""
    values = {column: row[column] for column in COLUMNS}
    values["body"] = bytes(values["body"])
    return ReadSegment(**values)


def to_row(segment: ReadSegment) -> list[Any]:
    """The row's values, in :data:`COLUMNS` order."""
    return [getattr(segment, column) for column in COLUMNS]


def select(table: str, *, upto: bool, mark: str) -> str:
    """The segments of a session in version order (up to a version with ``upto``).

    ``table`` is an already quoted or checked name; ``mark`` the driver's
    parameter placeholder."""
    bound = f" AND version <= {mark}" if upto else ""
    return (
        f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE session_id = {mark}{bound} "
        "ORDER BY version"
    )


def replace(table: str, *, mark: str) -> tuple[str, str]:
    """Deleting the session's segments after a version, and inserting one."""
    marks = ", ".join([mark] * len(COLUMNS))
    return (
        f"DELETE FROM {table} WHERE session_id = {mark} AND version > {mark}",
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})",
    )


def statements(
    table: str, session_id: str, segments: Sequence[ReadSegment], *, mark: str
) -> list[tuple[str, list[Any]]]:
    """What :meth:`SessionStore.write_segments` runs, in one transaction."""
    delete, insert = replace(table, mark=mark)
    return [(delete, [session_id, segments[0].previous])] + [
        (insert, to_row(segment)) for segment in segments
    ]
