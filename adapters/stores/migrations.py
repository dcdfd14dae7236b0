"""Versioned table layouts: the migrations a SQL store applies when it is opened.

Each dialect lists its migrations in order (``sqlite_migrations.MIGRATIONS``,
``postgres_migrations.MIGRATIONS``): migration *n* brings the tables from
version *n - 1* to *n*, as a list of statements that name the store's tables
through placeholders (``{events}``, ``{index}``, and ``{schema}`` on
PostgreSQL). A table ``<session_table>_schema`` records, one row each, the
versions applied. Opening a store:

1. reads the recorded version, taking no lock: at the latest version there is
   nothing to do (the usual case); above it, the tables were written by a newer
   Kern and :class:`SchemaVersionError` is raised, nothing changed;
2. otherwise, serialised with every other process opening the same database
   (PostgreSQL: an advisory lock taken before the transaction; SQLite: ``BEGIN
   IMMEDIATE``), in one transaction: creates the version table if missing,
   reads the version again (another opener may have migrated meanwhile), and
   applies the missing migrations in order, recording each. A failure rolls
   the whole open back.

Tables written before versioning (no version table, the tables present) are
adopted as version 1: migration 1 creates exactly the tables, triggers and
indexes those Kerns created, with the same re-runnable statements (``CREATE
... IF NOT EXISTS``, ``CREATE OR REPLACE``) they ran on every open, so applied
to their tables it changes nothing and only records version 1. Later
migrations run once each and need not be re-runnable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kern.domain.errors import SchemaVersionError


@dataclass(frozen=True)
class Migration:
    """The statements that bring a store's tables to ``version``."""

    version: int
    summary: str
    statements: tuple[str, ...]


def latest_version(migrations: Sequence[Migration]) -> int:
    """The version the tables have once every migration is applied."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise AssertionError(
                f"migration {expected} of the list has version {migration.version}: "
                "migrations are numbered 1, 2, 3, ... in order"
            )
    return len(migrations)


def pending(found: int, migrations: Sequence[Migration], *, where: str) -> list[Migration]:
    """The migrations to apply to tables at version ``found`` (0: none recorded);
    SchemaVersionError if ``found`` is newer than the code knows."""
    latest = latest_version(migrations)
    if found > latest:
        raise SchemaVersionError(
            f"{where} records schema version {found}, and this Kern knows versions up "
            f"to {latest}: the tables were written by a newer Kern; nothing was changed"
        )
    return list(migrations[found:])


def apply(
    found: int,
    migrations: Sequence[Migration],
    *,
    where: str,
    execute: Callable[[str], None],
    record: Callable[[Migration], None],
) -> list[int]:
    """Run the migrations after ``found`` in order, each statement through
    ``execute`` and each migration then through ``record``; the versions applied."""
    done = []
    for migration in pending(found, migrations, where=where):
        for statement in migration.statements:
            execute(statement)
        record(migration)
        done.append(migration.version)
    return done
