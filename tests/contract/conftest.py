"""The contract suite's fixtures: every store Kern has, and small workflows to run on them.

``db`` is parametrized over the stores, so a test that takes it runs once on
each of them: a store is correct when the same tests pass on all three. The
postgres run is marked ``postgres`` and asks for the shared test schema of
``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, echo, postgres_table, shout

STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def make_db(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> KernDb:
    """A fresh, empty store of the given kind."""
    if kind == "memory":
        return InMemoryDb()
    if kind == "sqlite":
        return SqliteDb(db_file=tmp_path / "kern.db")
    if kind == "postgres":
        schema = request.getfixturevalue("postgres_schema")
        return PostgresDb(POSTGRES_URL, session_table=postgres_table(), db_schema=schema)
    raise ValueError(kind)


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of the store under test."""
    return str(request.param)


@pytest.fixture
def db(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KernDb]:
    """An empty store of each kind, closed after the test."""
    store = make_db(store_kind, tmp_path, request)
    yield store
    store.close()


@pytest.fixture
def other_db(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KernDb]:
    """A second, empty store of the same kind as ``db``."""
    place = tmp_path / "other"
    place.mkdir()
    store = make_db(store_kind, place, request)
    yield store
    store.close()


@pytest.fixture
def make_workflow(db: KernDb) -> Callable[..., Workflow]:
    """Build a workflow on the store under test (two steps unless told otherwise)."""

    def build(**kwargs: Any) -> Workflow:
        kwargs.setdefault("name", "Test Pipeline")
        kwargs.setdefault("steps", [echo, shout])
        return Workflow(db=db, **kwargs)

    return build
