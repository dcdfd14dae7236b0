"""An Agno SQLite file, opened read-only with the sqlite3 module."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kern.adapters.agno.tables import DEFAULT_TABLE, AgnoTables
from kern.domain.errors import ImportSourceError


class SqliteAgnoTables(AgnoTables):
    """Agno's tables in a SQLite file; the file is never written to."""

    def __init__(self, path: str, *, table: str = DEFAULT_TABLE, runs_table: str | None = None):
        super().__init__(repr(str(path)), table, runs_table)
        file = Path(path)
        if not file.is_file():
            raise ImportSourceError(
                f"no Agno database at {str(path)!r}: no such file", source=str(path)
            )
        self.connection = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            self.check_layout()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise ImportSourceError(
                f"{str(path)!r} is not an Agno database: it cannot be read as SQLite ({exc})",
                source=str(path),
            ) from None
        except BaseException:
            self.close()
            raise

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self.connection.execute(f'PRAGMA table_info("{table}")')}

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()

    def qualified(self, table: str) -> str:
        return f'"{table}"'

    def close(self) -> None:
        self.connection.close()
