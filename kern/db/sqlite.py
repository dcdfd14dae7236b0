"""``SqliteDb``: sessions in one SQLite file, the embedded default."""

from __future__ import annotations

from pathlib import Path

from kern.adapters.db import KernDb
from kern.adapters.sqlite import SqliteStore


class SqliteDb(KernDb):
    """Sessions in ``db_file``; tables named from ``session_table``."""

    def __init__(
        self, db_file: str | Path = "kern.db", session_table: str = "kern_sessions"
    ) -> None:
        super().__init__(SqliteStore(db_file, session_table=session_table))
        self.db_file = str(db_file)
        self.session_table = session_table


__all__ = ["SqliteDb"]
