"""The contract suite's fixtures: every store Kern has, and small workflows to run on them.

``db`` is parametrized over the stores, so a test that takes it runs once on
each of them: a store is correct when the same tests pass on all of them. The
postgres runs are marked ``postgres`` and ask for the shared test schema of
``tests/conftest.py``.

The async stores (``sqlite-async``, ``postgres-async``) run the same tests: the
whole test (fixtures, body, teardown) runs on an event loop inside a bridge
portal (:func:`pytest_runtest_protocol` below), so its sync calls on ``db``
(the KernDb inside the AsyncSqliteDb or AsyncPostgresDb) wait on that loop,
as AsyncKernDb's methods do. A test about sync internals is marked
``sync_only(reason)`` and is not collected for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from kern.application import bridge
from kern.application.async_sessions import AsyncKernDb
from kern.crypto import Keyring, LocalKeyring
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.postgres import AsyncPostgresDb, PostgresDb
from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.errors import KernError
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, echo, postgres_table, shout
from tests.contract.kinds import ASYNC_KINDS, STORES

TEST_KEYRING = LocalKeyring(bytes(range(32)))
"""The keyring of the ``sqlite-keyring`` kind: every contract test on an encrypted store."""


def make_db(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, *, strict_users: bool = False
) -> KernDb:
    """A fresh, empty store of the given kind (of an async store: the KernDb it runs)."""
    if kind == "memory":
        return InMemoryDb(strict_users=strict_users)
    if kind in ("sqlite", "sqlite-async", "sqlite-keyring"):
        db_file = tmp_path / "kern.db"
        if kind == "sqlite":
            return SqliteDb(db_file, strict_users=strict_users)
        if kind == "sqlite-keyring":
            return SqliteDb(db_file, strict_users=strict_users, keyring=TEST_KEYRING)
        return AsyncSqliteDb(db_file, strict_users=strict_users).sync
    if kind in ("postgres", "postgres-async"):
        schema = request.getfixturevalue("postgres_schema")
        args = (POSTGRES_URL, postgres_table(), schema)
        if kind == "postgres":
            return PostgresDb(*args, strict_users=strict_users)
        return AsyncPostgresDb(*args, strict_users=strict_users).sync
    raise ValueError(kind)


def keyring_of(db: KernDb) -> Keyring | None:
    """The keyring ``db`` was opened with (None without one): to open its file again."""
    keys = db.store.data_keys
    return keys.keyring if keys is not None else None


def close(db: KernDb) -> None:
    """Close ``db`` as its API does (an async store's through AsyncKernDb, on the loop)."""
    if bridge.active():
        bridge.wait(AsyncKernDb(db).close())
    else:
        db.close()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of the store under test."""
    return str(request.param)


@pytest.fixture
def db(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KernDb]:
    """An empty store of each kind, closed after the test."""
    store = make_db(store_kind, tmp_path, request)
    yield store
    close(store)


@pytest.fixture
def other_db(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KernDb]:
    """A second, empty store of the same kind as ``db``."""
    place = tmp_path / "other"
    place.mkdir()
    store = make_db(store_kind, place, request)
    yield store
    close(store)


def _on_async_store(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(isinstance(p, str) and p in ASYNC_KINDS for p in params)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A test on an async store runs (setup, call, teardown) on a loop of its own,
    in a portal: every wait of the store goes through that loop."""
    if not _on_async_store(item):
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    asyncio.run(bridge.portal(runtestprotocol, item, nextitem=nextitem))
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.fixture
def make_workflow(db: KernDb) -> Callable[..., Workflow]:
    """Build a workflow on the store under test (two steps unless told otherwise)."""

    def build(**kwargs: Any) -> Workflow:
        kwargs.setdefault("name", "Test Pipeline")
        kwargs.setdefault("steps", [echo, shout])
        return Workflow(db=db, **kwargs)

    return build


Interrupt = Callable[..., Generator[Any, None, None]]
"""``interrupt(workflow, at=k, **run)``: start a run, leave it RUNNING before step k."""


@pytest.fixture
def interrupt() -> Iterator[Interrupt]:
    """Start a run and leave it RUNNING just before its step ``at`` (the steps
    before it stored), its writer parked as a process that stopped would leave
    it; the writer is closed at teardown, as a process coming back would be."""
    parked: list[Generator[Any, None, None]] = []

    def start(workflow: Workflow, *, at: int, **run: Any) -> Generator[Any, None, None]:
        events = workflow.run(stream=True, **run)
        for event in events:
            if event.event == "StepStarted" and getattr(event, "step_index", None) == at:
                break
        parked.append(events)
        return events

    yield start
    for events in parked:
        with contextlib.suppress(KernError):  # the run was resumed or ended, or its session went
            events.close()
