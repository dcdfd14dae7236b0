"""What the ``kern`` command line turns into Python objects: the database a
``--db`` names, an AS_OF argument, and a workflow named by an import path.

Problems here are the user's to fix (a file that is not there, a URL Kern does
not know), so they raise :class:`UsageError`, which the command reports in one
line with exit status 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kern.adapters.keyring import LocalKeyring
from kern.adapters.stores.identifiers import redact_url
from kern.application.keys import Keyring
from kern.application.runner.workflow import Workflow
from kern.application.sessions import KernDb
from kern.db.sqlite import SqliteDb
from kern.domain import values
from kern.domain.errors import InvalidInputError, SchemaMigrationRequiredError

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
SQLITE_SCHEME = "sqlite:///"
DEFAULT_SCHEMA = "public"
DEFAULT_TABLE = "kern_sessions"

AsOfArg = int | datetime | str


class UsageError(Exception):
    """The command line names something that does not exist or cannot be used
    (a CLI error, so not one of Kern's KernError tree)."""


def is_postgres(target: str) -> bool:
    """Whether ``--db`` names a PostgreSQL database rather than a SQLite file."""
    return target.lower().startswith(POSTGRES_SCHEMES)


def open_db(
    target: str,
    *,
    schema: str | None = None,
    table: str | None = None,
    create: bool = False,
    migrate: bool = True,
    keyring: Keyring | None = None,
) -> KernDb:
    """The store ``target`` names: a PostgreSQL URL, ``sqlite:///path`` or a SQLite path.

    A SQLite file must already exist unless ``create`` (commands that only read
    never leave an empty database behind a mistyped path). Without ``migrate``
    nothing is created or changed: a place with no Kern tables raises
    StoreNotFoundError and is left as it was.
    """
    table = table or DEFAULT_TABLE
    if is_postgres(target):
        return _open_postgres(
            target, schema or DEFAULT_SCHEMA, table, migrate=migrate, keyring=keyring
        )
    if schema is not None:
        raise UsageError("--schema applies to PostgreSQL only; a SQLite file has no schemas")
    if target.startswith(SQLITE_SCHEME):
        target = target[len(SQLITE_SCHEME) :]
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise UsageError(
            f"--db {scheme}:// is not a database Kern knows: give a SQLite file path or a "
            "postgresql:// URL"
        )
    path = Path(target)
    if path.is_dir():
        raise UsageError(f"--db {target!r} is a directory, not a SQLite file")
    if not create and not path.exists():
        raise UsageError(f"no SQLite database at {target!r} (check the path)")
    return SqliteDb(db_file=path, session_table=table, migrate=migrate, keyring=keyring)


def open_existing(
    target: str,
    *,
    schema: str | None = None,
    table: str | None = None,
    keyring: Keyring | None = None,
) -> KernDb:
    """The Kern store ``target`` names, which must already be there (StoreNotFoundError,
    nothing created, when it is not), its tables brought up to date if they are behind:
    what commands that write to existing sessions open."""
    try:
        db = open_db(target, schema=schema, table=table, migrate=False, keyring=keyring)
        try:
            db.get_sessions(limit=0)  # PostgreSQL looks at its tables on first use
        except BaseException:
            db.close()
            raise
        return db
    except SchemaMigrationRequiredError:
        return open_db(target, schema=schema, table=table, migrate=True, keyring=keyring)


def _open_postgres(
    url: str, schema: str, table: str, *, migrate: bool, keyring: Keyring | None
) -> KernDb:
    try:
        from kern.db.postgres import PostgresDb
    except ModuleNotFoundError as exc:  # psycopg is an optional dependency
        raise UsageError(str(exc)) from None
    try:
        return PostgresDb(
            url, session_table=table, db_schema=schema, migrate=migrate, keyring=keyring
        )
    except InvalidInputError:
        raise
    except ValueError as exc:  # what the URL parser says about a malformed URL
        raise UsageError(f"--db {describe(url)!r} cannot be parsed: {exc}") from None


def describe(target: str) -> str:
    """``target`` for messages, without a PostgreSQL password."""
    return redact_url(target) if is_postgres(target) else target


def parse_as_of(text: str) -> AsOfArg:
    """An AS_OF argument: an integer is a version, an ISO 8601 moment a datetime,
    anything else a run_id."""
    return values.parse_as_of(text)


def parse_step(text: str) -> int | str:
    """A STEP argument: an index when it is a whole number, else a step name or the
    dotted path of a step inside a step primitive ("2.1.3")."""
    return int(text) if text.isdigit() else text


def load_workflow(spec: str) -> Workflow:
    """The workflow at ``module:attr`` or ``path/to/file.py:attr``.

    ``attr`` may be a Workflow or a function of no arguments returning one.
    The current directory is importable, as with ``python -m``.
    """
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise UsageError(f"--workflow must look like module:attribute, got {spec!r}")
    module = _import(module_name)
    try:
        found: Any = getattr(module, attr)
    except AttributeError:
        raise UsageError(f"--workflow {spec!r}: {module_name} has no {attr!r}") from None
    if not isinstance(found, Workflow) and callable(found):
        found = _call(spec, found)
    if not isinstance(found, Workflow):
        raise UsageError(
            f"--workflow {spec!r} is a {type(found).__name__}, not a Workflow "
            "(or a function returning one)"
        )
    return found


def _import(module_name: str) -> Any:
    try:
        if module_name.endswith(".py") or "/" in module_name:
            return _import_file(Path(module_name))
        if "" not in sys.path:
            sys.path.insert(0, "")
        return importlib.import_module(module_name)
    except UsageError:
        raise
    except Exception as exc:  # any error of the user's module, reported in one line
        raise UsageError(
            f"cannot import workflow module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"no workflow file at {str(path)!r}")
    name = f"kern_workflow_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _call(spec: str, factory: Any) -> Any:
    try:
        return factory()
    except Exception as exc:  # the user's factory failed
        raise UsageError(
            f"--workflow {spec!r} raised {type(exc).__name__} when called: {exc}"
        ) from None


MASTER_KEY_ENV = "KERN_MASTER_KEY"
"""The environment variable a keyring's master key is read from (base64 of 32 bytes)."""


def keyring_from(master_key_file: str | None) -> Keyring | None:
    """The keyring the command line names: ``--master-key-file``, else
    ``$KERN_MASTER_KEY``, else none."""
    if master_key_file is not None:
        return LocalKeyring.from_file(master_key_file)
    if os.environ.get(MASTER_KEY_ENV):
        return LocalKeyring.from_env(MASTER_KEY_ENV)
    return None


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> timedelta:
    """An age such as ``90d``, ``12h``, ``2w``, ``30m`` or ``45s``."""
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise UsageError(
            f"--older-than {text!r} is not an age: a whole number and a unit, "
            "s, m, h, d or w (90d, 12h, 2w)"
        )
    return timedelta(seconds=int(number) * _UNITS[unit])
