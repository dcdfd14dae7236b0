"""Kern's recorders stay on eventsourcing's public API, so the library can change
its internals without bypassing the listing write (see kern.adapters.stores.recorder).

Each recorder overrides public methods only, with the library's signatures, and
an insert writes its listing row in the same transaction as its events: both
land, or neither does.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from kern.adapters.stores.memory import InMemoryStore, _IndexedPOPORecorder
from kern.adapters.stores.postgres_recorder import PostgresLogRecorder
from kern.adapters.stores.recorder import RecorderStore
from kern.adapters.stores.sqlite import SqliteStore, _IndexedSQLiteRecorder

RECORDERS = [_IndexedPOPORecorder, _IndexedSQLiteRecorder, PostgresLogRecorder]


def library_bases(cls: type) -> list[type]:
    return [base for base in cls.__mro__[1:] if base.__module__.startswith("eventsourcing")]


@pytest.mark.parametrize("recorder", RECORDERS, ids=lambda cls: cls.__name__)
def test_recorders_override_no_private_method_of_the_library(recorder: type) -> None:
    overridden = [
        name
        for name, value in vars(recorder).items()
        if callable(value) and any(name in vars(base) for base in library_bases(recorder))
    ]
    assert "insert_events" in overridden
    assert [name for name in overridden if name.startswith("_") and not name.endswith("__")] == []


@pytest.mark.parametrize("recorder", RECORDERS, ids=lambda cls: cls.__name__)
def test_overrides_keep_the_library_signatures(recorder: type) -> None:
    for name, value in vars(recorder).items():
        bases = [base for base in library_bases(recorder) if name in vars(base)]
        if not callable(value) or name.startswith("_") or not bases:
            continue
        ours = inspect.signature(value).parameters
        theirs = inspect.signature(getattr(bases[0], name)).parameters
        assert list(ours) == list(theirs), f"{recorder.__name__}.{name}"
        assert [p.kind for p in ours.values()] == [p.kind for p in theirs.values()]


def row(version: int) -> StoredEvent:
    return StoredEvent("s1", version, "kern.domain.events:Test", b"{}")


def listing(version: int) -> dict[str, object]:
    return {"session_id": "s1", "updated_at": float(version), "version": version}


def new_listing() -> dict[str, object]:
    empty = {"user_id": None, "workflow_id": None, "workflow_name": None, "session_name": ""}
    return {**listing(1), **empty, "created_at": 1.0}


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecorderStore[Any]:
    """A store whose recorder is exercised directly (PostgreSQL: its own tests)."""
    if request.param == "memory":
        return InMemoryStore()
    return SqliteStore(tmp_path / "kern.db")


def test_an_insert_writes_its_listing_row_with_its_events(store: RecorderStore[Any]) -> None:
    store.recorder.insert_events([row(1)], listing=new_listing())
    store.recorder.insert_events([row(2), row(3)], listing=listing(3))
    assert store.indexed_version("s1") == 3
    assert [r.version for r in store.read_records("s1")] == [1, 2, 3]


def test_a_refused_insert_writes_no_listing_row(store: RecorderStore[Any]) -> None:
    """A version conflict on the events leaves the listing as it was: one transaction."""
    store.recorder.insert_events([row(1)], listing=new_listing())
    with pytest.raises(IntegrityError):
        store.recorder.insert_events([row(2), row(1)], listing=listing(2))
    assert store.indexed_version("s1") == 1
    assert [r.version for r in store.read_records("s1")] == [1]
