"""Forks: a new session whose history is another session's, up to a point.

The fork holds copies of the source's events 1..v, re-keyed to the fork's
session_id and sealed into the fork's own hash chain (timestamps, user_id and
provenance are kept), then a :class:`SessionForked` naming the source, the
version copied up to and that version's hash. Runs still open at the fork
point are ended on the fork as CANCELLED, so the fork accepts new runs at
once. Everything is written in one atomic append; the source is only read.

Forking at a run_id stops just before that run's RunStarted, so the run can
be tried again on the fork. Forking at a version or a datetime copies up to
and including the event it names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from uuid import uuid4

from kern.adapters.store import AppendConflict, SessionStore
from kern.adapters.timetravel import AsOf
from kern.domain.aggregate import WorkflowSession as SessionAggregate
from kern.domain.aggregate import validate_session_id
from kern.domain.encoding import GENESIS_HASH, event_hash
from kern.domain.errors import (
    SessionAccessError,
    SessionDeletedError,
    SessionExistsError,
    SessionNotFoundError,
)
from kern.domain.events import SessionEvent
from kern.domain.values import Provenance, RunStatus, StoredValue

CANCELLED_BY_FORK = "open when the session was forked"

Resolve = Callable[[str, AsOf], int]


def fork_session(
    store: SessionStore,
    session_id: str,
    *,
    at: AsOf,
    resolve: Resolve,
    new_session_id: str | None,
    user_id: str | None,
    provenance: Provenance,
) -> list[SessionEvent]:
    """Write the fork of ``session_id`` at ``at`` as ``new_session_id`` (a uuid4
    when None); returns the fork's events.

    SessionNotFoundError for an unknown source, SessionAccessError when
    ``user_id`` does not own it, InvalidAsOfError for a point the source does
    not have, SessionDeletedError when the point includes the tombstone, and
    SessionExistsError when ``new_session_id`` is taken. Nothing is written
    unless the whole fork is.
    """
    if new_session_id is None:
        new_session_id = str(uuid4())
    new_session_id = validate_session_id(new_session_id)
    _check_readable(store, session_id, user_id)
    version = fork_version(at, resolve(session_id, at))
    if store.read(new_session_id, upto=1):
        raise _exists(new_session_id)
    copied = store.read(session_id, upto=version)
    events = fork_events(copied, new_session_id, user_id=user_id, provenance=provenance)
    try:
        store.append(events)
    except AppendConflict:
        raise _exists(new_session_id) from None
    return events


def fork_version(at: AsOf, resolved: int) -> int:
    """The last source version the fork copies: for a run_id, the one before its RunStarted."""
    return resolved - 1 if isinstance(at, str) else resolved


def fork_events(
    copied: Sequence[SessionEvent],
    new_session_id: str,
    *,
    user_id: str | None,
    provenance: Provenance,
) -> list[SessionEvent]:
    """The fork's events: ``copied`` re-keyed and re-sealed, SessionForked, and
    a CANCELLED end for each run left open."""
    last = copied[-1]
    events = reseal(copied, new_session_id)
    fork = SessionAggregate.replay(new_session_id, events)
    if fork.deleted:
        raise SessionDeletedError(
            f"session {last.session_id!r} was deleted at version {last.version}; "
            "fork it at an earlier point",
            session_id=last.session_id,
        )
    fork.record_fork(
        user_id=user_id,
        source_session_id=last.session_id,
        source_version=last.version,
        source_hash=last.hash,
        provenance=provenance,
    )
    for run_id, run in fork.runs.items():
        if not run.finished:
            fork.complete_run(
                run_id=run_id,
                user_id=user_id,
                status=RunStatus.cancelled,
                content=StoredValue.of(None),
                error=CANCELLED_BY_FORK,
                provenance=provenance,
            )
    return [*events, *fork.take_pending()]


def reseal(events: Sequence[SessionEvent], session_id: str) -> list[SessionEvent]:
    """Copies of ``events`` under ``session_id``, chained anew from the genesis hash."""
    sealed: list[SessionEvent] = []
    previous = GENESIS_HASH
    for event in events:
        copy = replace(event, session_id=session_id)
        copy = replace(copy, hash=event_hash(previous, copy))
        sealed.append(copy)
        previous = copy.hash
    return sealed


def _check_readable(store: SessionStore, session_id: str, user_id: str | None) -> None:
    first = store.read(session_id, upto=1)
    if not first:
        raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
    if user_id is not None and first[0].user_id != user_id:
        raise SessionAccessError(
            f"user {user_id!r} does not own session {session_id!r}", session_id=session_id
        )


def _exists(session_id: str) -> SessionExistsError:
    return SessionExistsError(
        f"session {session_id!r} already exists; a fork never overwrites a session",
        session_id=session_id,
    )
