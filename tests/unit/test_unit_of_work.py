"""The unit of work: decide, append, and decide again when another writer won."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, cast

import pytest

from kern.application import unit_of_work
from kern.application.ports import AppendConflict
from kern.db.in_memory import InMemoryDb
from kern.domain.aggregate import SessionAggregate
from kern.domain.events import SessionEvent
from kern.domain.values import Provenance
from kern.errors import ConcurrencyError, SessionNotFoundError


def start(session: SessionAggregate) -> None:
    session.start(
        user_id="alice",
        workflow_id="wf",
        workflow_name="Workflow",
        workflow_data=None,
        metadata=None,
        session_state={},
        provenance=Provenance(),
    )


def test_gives_up_with_concurrency_error_after_the_last_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session that keeps changing under the writer ends in ConcurrencyError,
    after exactly MAX_ATTEMPTS decisions, with nothing written."""
    db = InMemoryDb()
    monkeypatch.setattr(unit_of_work, "MAX_ATTEMPTS", 5)
    decisions = []

    def always_conflict(events: Sequence[SessionEvent]) -> None:
        raise AppendConflict("another writer")

    monkeypatch.setattr(db.store, "append", always_conflict)

    def decide(session: SessionAggregate) -> None:
        decisions.append(session.version)
        start(session)

    with pytest.raises(ConcurrencyError, match="gave up after 5 attempts"):
        db.execute("s1", decide)
    assert len(decisions) == 5
    assert db.get_events("s1") == []


@pytest.fixture
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Conflicts retried at once: these tests count attempts, they do not wait."""
    monkeypatch.setattr(unit_of_work, "FIRST_PAUSE", 0.0)


def conflicting(db: InMemoryDb, times: int) -> list[int]:
    """Make ``db``'s next ``times`` appends conflict, as if another writer won each
    race; returns the list the refused appends are counted in."""
    real_append, refused = db.store.append, cast(list[int], [])

    def append(events: Sequence[SessionEvent]) -> None:
        if len(refused) < times:
            refused.append(len(events))
            raise AppendConflict("another writer")
        real_append(events)

    cast(Any, db.store).append = append
    return refused


def test_a_writer_that_loses_more_than_a_hundred_races_still_lands(no_pauses: None) -> None:
    """Contention costs time, not the write: the retry is bounded by BUDGET seconds
    (and a large attempt count), not by the 100 attempts it once had."""
    db = InMemoryDb()
    refused = conflicting(db, 150)
    db.execute("s1", start)
    assert len(refused) == 150
    assert [e.version for e in db.get_events("s1")] == [1]


def test_gives_up_with_concurrency_error_once_the_time_budget_is_spent(
    monkeypatch: pytest.MonkeyPatch, no_pauses: None
) -> None:
    db = InMemoryDb()
    monkeypatch.setattr(unit_of_work, "BUDGET", 0.05)
    refused = conflicting(db, 10**9)
    with pytest.raises(ConcurrencyError, match=r"gave up after \d+ attempts in 0\.\d s"):
        db.execute("s1", start)
    assert len(refused) > 1
    assert db.get_events("s1") == []


def test_after_a_conflict_the_writer_decides_again_in_its_turn(no_pauses: None) -> None:
    """The first decision is optimistic; after a conflict the next ones are taken
    inside the store's writer queue for the session (SessionStore.writing)."""
    db = InMemoryDb()
    refused = conflicting(db, 2)
    turns: list[str] = []

    @contextlib.contextmanager
    def writing(session_id: str) -> Iterator[None]:
        turns.append(session_id)
        yield

    cast(Any, db.store).writing = writing
    db.execute("s1", start)
    assert len(refused) == 2
    assert turns == ["s1", "s1"]  # the two decisions after a conflict, not the first


def test_a_conflict_that_already_landed_is_not_written_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An append whose acknowledgement was lost (it committed, then failed) is
    found stored on the retry and not appended again."""
    db = InMemoryDb()
    real_append = db.store.append
    calls = []

    def commit_then_fail(events: Sequence[SessionEvent]) -> None:
        calls.append(len(events))
        real_append(events)
        # The cached stream learnt of the append; forget it, as a lost reply would.
        cast(Any, db.store).cache.clear()
        raise AppendConflict("the connection dropped after the commit")

    monkeypatch.setattr(db.store, "append", commit_then_fail)
    executed = db.execute("s1", start)
    assert calls == [1]
    assert [e.version for e in db.get_events("s1")] == [1]
    assert executed.aggregate.version == 1
    assert [e.version for e in executed.events] == [1]  # reported as this call's append


def test_a_refusal_is_raised_once_nothing_newer_is_stored() -> None:
    """A command the session refuses raises its error and writes nothing."""
    db = InMemoryDb()

    def rename(session: SessionAggregate) -> None:
        session.rename(
            user_id="alice", session_name="x", autogenerated=False, provenance=Provenance()
        )

    with pytest.raises(SessionNotFoundError):
        db.execute("missing", rename)
    assert db.get_events("missing") == []
