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
import time
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)
from tenacity.stop import stop_base

from kern.application import bridge
from kern.application.cache import CachedStream
from kern.application.ports import AppendConflict, SessionStore
from kern.domain.aggregate import SessionAggregate
from kern.domain.errors import ConcurrencyError, KernError
from kern.domain.events import SessionEvent

T = TypeVar("T")

BUDGET = 60.0
"""Seconds a writer keeps deciding again on a busy session before :class:`ConcurrencyError`."""

MAX_ATTEMPTS = 10_000
"""Decisions tried on one session at most, whatever the clock says (a clock that
stands still, as under freezegun, cannot make a writer try forever)."""

FIRST_PAUSE = 0.002
"""The longest pause after a first conflict, in seconds; it doubles with each
further conflict, up to LONGEST_PAUSE, and the pause is drawn at random below it."""

LONGEST_PAUSE = 0.5


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
    """No pause after a stale decision; after a conflict, a random one below a
    ceiling that doubles with the attempts (exponential backoff, full jitter),
    so many writers racing for one session spread out instead of colliding again."""
    failed = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failed, _Conflict):
        ceiling = FIRST_PAUSE * 2 ** min(state.attempt_number, 30)  # the first try came before
        return random.uniform(0, min(LONGEST_PAUSE, ceiling))
    return 0.0


class _OutOfTime(stop_base):
    """Stop once BUDGET seconds have passed since ``started`` (BUDGET is read at
    each check, so a test can shorten it)."""

    def __init__(self, started: float) -> None:
        self.started = started

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() - self.started >= BUDGET


def execute(
    store: SessionStore, session_id: str, decide: Callable[[SessionAggregate], T]
) -> Executed[T]:
    """Run ``decide`` on the session and append what it recorded (see the module doc).

    After a conflict, the next decisions are taken in the session's writer
    queue (:meth:`SessionStore.writing`, where the store has one), so that
    writers of one busy session take turns instead of colliding again."""
    cached = store.stream(session_id)
    started = time.monotonic()

    def gave_up(state: RetryCallState) -> Executed[T]:
        raise ConcurrencyError(
            f"session {session_id!r} kept changing under this writer; gave up after "
            f"{state.attempt_number + 1} attempts in {time.monotonic() - started:.1f} s"
        )

    def attempt() -> Executed[T]:
        if not conflicted:
            try:
                return _attempt(store, cached, decide)
            except _Conflict:
                conflicted.append(True)
                raise
        with store.writing(session_id):
            store.refresh(cached)  # what the writers ahead in the queue appended
            return _attempt(store, cached, decide)

    conflicted: list[bool] = []
    retrying = Retrying(
        # The first attempt is made before the loop (see below).
        stop=stop_after_attempt(MAX_ATTEMPTS - 1) | _OutOfTime(started),
        wait=_pause,
        sleep=bridge.pause,  # on the event loop, other tasks run meanwhile
        retry=retry_if_exception_type(_TryAgain),
        retry_error_callback=gave_up,
    )
    with cached.lock:
        if cached.version == 0 or not cached.snapshot_checked:
            # A session this process holds little of: the store starts it from its
            # snapshot when it has one (a read of its first events alone would not).
            store.refresh(cached)
        # The first decision usually lands: take it without the retry machinery,
        # which cost a tenth of a run, and hand any retry over to it.
        try:
            return _attempt(store, cached, decide)
        except _Conflict:
            conflicted.append(True)
            bridge.pause(random.uniform(0, FIRST_PAUSE))
        except _TryAgain:
            pass
        return retrying(attempt)


def _attempt(
    store: SessionStore, cached: CachedStream, decide: Callable[[SessionAggregate], T]
) -> Executed[T]:
    aggregate = cached.write_model()
    # With a keyring, new events are sealed as they are recorded: the chain covers
    # the ciphertext.
    aggregate.keys = store.data_keys.key_for if store.data_keys is not None else None
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
        if _landed(cached, base_version, events):
            return Executed(result, cached.write_model(), events)
        raise _Conflict from None
    except BaseException:
        aggregate.rollback(mark)
        raise
    cached.extend(events)
    return Executed(result, aggregate, events)


def _landed(cached: CachedStream, base_version: int, events: list[SessionEvent]) -> bool:
    """Whether ``events`` are already stored: an append whose acknowledgement
    was lost (connection dropped after commit) is not written twice."""
    return bool(events) and cached.slice(base_version, base_version + len(events)) == events
