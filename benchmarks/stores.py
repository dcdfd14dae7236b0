"""Where the suite writes: one SQLite file, or one PostgreSQL schema, per suite run.

A :class:`Backend` opens fresh Kern db objects on its store (a fresh object
has an empty event cache: it reads everything from the database), the raw
driver baseline, and Agno's db on the same database. SQLite lives in a
temporary directory removed at the end; PostgreSQL in a schema created for
the run (``kern_bench_<random>``) and dropped at the end, tables and all.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from raw import RawPostgres, RawSqlite

from kern.db import KernDb
from kern.db.sqlite import SqliteDb


@dataclasses.dataclass
class Backend:
    """One store kind and where its data lives for this run."""

    kind: str  # "sqlite" or "postgres"
    location: str  # SQLite folder, or PostgreSQL URL
    schema: str = ""

    @classmethod
    def sqlite(cls) -> Backend:
        """A SQLite backend in a new temporary folder."""
        return cls("sqlite", tempfile.mkdtemp(prefix="kern-bench-"))

    @classmethod
    def postgres(cls, url: str) -> Backend:
        """A PostgreSQL backend in a new schema of its own."""
        return cls("postgres", url, f"kern_bench_{secrets.token_hex(4)}")

    @property
    def spec(self) -> tuple[str, str, str]:
        """What a writer process needs to open the store itself."""
        return self.kind, self.location, self.schema

    def kern_db(self) -> KernDb:
        """A new Kern db object on this store (empty cache), connected."""
        db = open_kern(self.spec)
        db.get_session("bench-connect")  # connects (PostgreSQL connects lazily)
        return db

    def raw(self) -> RawSqlite | RawPostgres:
        """The raw-driver baseline on the same database."""
        if self.kind == "sqlite":
            return RawSqlite(str(Path(self.location) / "kern.db"))
        return RawPostgres(self.location, self.schema)

    def agno_db(self) -> Any:
        """Agno's SqliteDb (its own file) or PostgresDb (this schema)."""
        if self.kind == "sqlite":
            from agno.db.sqlite import SqliteDb as AgnoSqliteDb

            return AgnoSqliteDb(db_file=str(Path(self.location) / "agno.db"))
        from agno.db.postgres import PostgresDb as AgnoPostgresDb

        rest = self.location.split("://", 1)[1]
        return AgnoPostgresDb(db_url=f"postgresql+psycopg://{rest}", db_schema=self.schema)

    def server_version(self) -> str | None:
        """PostgreSQL's version string, None for SQLite."""
        if self.kind != "postgres":
            return None
        with psycopg.connect(self.location) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else None

    def drop(self) -> None:
        """Remove everything this run wrote."""
        if self.kind == "sqlite":
            shutil.rmtree(self.location, ignore_errors=True)
            return
        with psycopg.connect(self.location, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )


def open_kern(spec: tuple[str, str, str]) -> KernDb:
    """A Kern db object from a backend's spec (used in writer processes too)."""
    kind, location, schema = spec
    if kind == "sqlite":
        return SqliteDb(db_file=Path(location) / "kern.db")
    from kern.db.postgres import PostgresDb

    return PostgresDb(location, db_schema=schema)
