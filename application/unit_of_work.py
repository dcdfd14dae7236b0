"""The unit of work every write goes through: decide on the write model, append, retry.

A command is a function ``decide(aggregate) -> result`` that calls the
aggregate's command methods. It runs on the write model this process keeps
for the session (built once, then followed event by event, see
:mod:`kern.application.cache`), and the events it recorded are appended at
the version it decided on. When another writer appended first the append
fails, the decision is undone, the newer events are read and ``decide`` runs
again (optimistic concurrency): two workers writing one session both land,
and nothing is written twice. Errors ``decide`` raises propagate and nothing
is written, unless they rested on stale events, in which case it decides again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from kern.application.cache import CachedStream
from kern.application.ports import AppendConflict, SessionStore
from kern.domain.aggregate import SessionAggregate
from kern.domain.errors import ConcurrencyError, KernError
from kern.domain.events import SessionEvent

T = TypeVar("T")

MAX_ATTEMPTS = 100
"""Decisions tried on one session before :class:`ConcurrencyError`."""


class Executed(NamedTuple, Generic[T]):
    """What :func:`execute` did: the command's result, the aggregate as now
    stored, and the events appended."""

    result: T
    aggregate: SessionAggregate
    events: list[SessionEvent]


class _TryAgain(Exception):
    """The decision rested on stale events: decide again at once."""


class _Conflict(_TryAgain):
    """Another writer appended first: decide again after a short random pause."""


def _pause(state: RetryCallState) -> float:
    """No pause after a stale decision; after a conflict, a random one that grows
    with the attempts (up to 50 ms), so racing writers spread out."""
    failed = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failed, _Conflict):
        return random.uniform(0, 0.002 * min(state.attempt_number, 25))
    return 0.0


def execute(
    store: SessionStore, session_id: str, decide: Callable[[SessionAggregate], T]
) -> Executed[T]:
    """Run ``decide`` on the session and append what it recorded (see the module doc)."""
    cached = store.stream(session_id)

    def gave_up(state: RetryCallState) -> Executed[T]:
        raise ConcurrencyError(
            f"session {session_id!r} kept changing under this writer; "
            f"gave up after {state.attempt_number} attempts"
        )

    retrying = Retrying(
        stop=stop_after_attempt(MAX_ATTEMPTS),
        wait=_pause,
        retry=retry_if_exception_type(_TryAgain),
        retry_error_callback=gave_up,
    )
    with cached.lock:
        if cached.version == 0:
            store.refresh(cached)
        return retrying(_attempt, store, cached, decide)


def _attempt(
    store: SessionStore, cached: CachedStream, decide: Callable[[SessionAggregate], T]
) -> Executed[T]:
    aggregate = cached.write_model()
    base_version = aggregate.version
    mark = aggregate.checkpoint()
    try:
        result = decide(aggregate)
    except KernError:
        # Refused on what this process knew: decide again if that was stale.
        aggregate.rollback(mark)
        if store.refresh(cached):
            raise _TryAgain from None
        raise
    except BaseException:
        aggregate.rollback(mark)
        raise
    events = aggregate.take_pending()
    if not events:
        # Nothing to append, so no conflict would show a stale decision:
        # check for newer events before answering.
        if base_version and store.refresh(cached):
            raise _TryAgain
        return Executed(result, aggregate, events)
    try:
        store.append(events)
    except AppendConflict:
        aggregate.rollback(mark)
        store.refresh(cached)
        if _landed(cached.events, base_version, events):
            return Executed(result, cached.write_model(), events)
        raise _Conflict from None
    except BaseException:
        aggregate.rollback(mark)
        raise
    cached.extend(events)
    return Executed(result, aggregate, events)


def _landed(stored: Sequence[SessionEvent], base_version: int, events: list[SessionEvent]) -> bool:
    """Whether ``events`` are already stored: an append whose acknowledgement
    was lost (connection dropped after commit) is not written twice."""
    return bool(events) and list(stored[base_version : base_version + len(events)]) == events
