"""An Agno PostgreSQL database, read with psycopg.

Agno's PostgresDb keeps its tables in the schema ``ai`` unless given another
``db_schema``; so does this reader, unless given another ``schema``. The
schema is named in every query, so the URL's search_path plays no part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from kern.adapters.agno.tables import DEFAULT_TABLE, AgnoTables
from kern.adapters.stores.identifiers import check_identifier, redact_url
from kern.adapters.stores.postgres import parse_db_url
from kern.domain.errors import ImportSourceError

DEFAULT_SCHEMA = "ai"
"""Where Agno's PostgresDb puts its tables by default."""
CONNECT_TIMEOUT = 5


class PostgresAgnoTables(AgnoTables):
    """Agno's tables in one schema of a PostgreSQL database; nothing is written."""

    placeholder = "%s"

    def __init__(
        self,
        db_url: str,
        *,
        table: str = DEFAULT_TABLE,
        runs_table: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.schema = check_identifier(schema or DEFAULT_SCHEMA, what="the Agno schema")
        shown = redact_url(db_url)
        super().__init__(f"{shown} (schema {self.schema!r})", table, runs_table)
        params = parse_db_url(db_url)
        try:
            self.connection = psycopg.connect(
                **params, connect_timeout=CONNECT_TIMEOUT, autocommit=True
            )
        except psycopg.Error as exc:
            raise ImportSourceError(
                f"cannot connect to the Agno database {shown}: {str(exc).strip()}", source=shown
            ) from None
        try:
            self.check_layout()
        except BaseException:
            self.close()
            raise

    def columns(self, table: str) -> set[str]:
        sql = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s"
        )
        return {row[0] for row in self.rows(sql, (self.schema, table))}

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.encode(), params)  # names were checked as plain identifiers
            return cursor.fetchall()

    def qualified(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def close(self) -> None:
        self.connection.close()
