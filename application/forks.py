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

from collections.abc import Callable
from uuid import uuid4

from kern.application.keys import seal_events
from kern.application.ports import AppendConflict, SessionStore
from kern.domain.encoding import GENESIS_HASH
from kern.domain.errors import (
    SessionExistsError,
    SessionNotFoundError,
)
from kern.domain.events import SessionEvent
from kern.domain.fork import fork_events, fork_version
from kern.domain.identity import may_access, validate_session_id
from kern.domain.values import AsOf, Provenance

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
    if store.data_keys is not None:
        # The fork's values sealed again, under its owner's key, for its own places.
        seal_events(store.data_keys, events, GENESIS_HASH, events[0].user_id)
    try:
        store.append(events)
    except AppendConflict:
        # Taken by another writer meanwhile, or this append committed and its
        # acknowledgement was lost: then the fork reads back exactly as appended.
        if store.read(new_session_id) != events:
            raise _exists(new_session_id) from None
    return events


def _check_readable(store: SessionStore, session_id: str, user_id: str | None) -> None:
    first = store.read(session_id, upto=1)
    if not first or not may_access(first[0].user_id, user_id):
        raise SessionNotFoundError.of(session_id)


def _exists(session_id: str) -> SessionExistsError:
    return SessionExistsError(
        f"session {session_id!r} already exists; a fork never overwrites a session",
        session_id=session_id,
    )
