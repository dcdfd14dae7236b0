"""Time travel: a session's log, the session as it stood at any point, what a step saw.

An *as-of* names a point in a session's stream and resolves to a version:

- an ``int`` is a version (1 is SessionStarted);
- a ``datetime`` is a moment: the last event recorded at or before it (a naive
  datetime is taken as UTC). The store finds it by point reads of the
  primary key (:meth:`SessionStore.version_at`), never by reading the stream;
- a ``str`` is a run_id: the moment that run started, up to and including
  its RunStarted.

:func:`resolve_as_of` asks the store only what it needs. The log entries and
step views built from what it finds are in :mod:`kern.projections.log`.
"""

from __future__ import annotations

from datetime import datetime

from kern.application.ports import SessionStore
from kern.domain.errors import InvalidAsOfError, SessionNotFoundError
from kern.domain.identity import may_access
from kern.domain.values import AsOf, iso_utc, utc


def owned_by(store: SessionStore, session_id: str, user_id: str | None) -> bool:
    """Whether the session exists and ``user_id`` may read it (one point read)."""
    first = store.read(session_id, upto=1)
    return bool(first) and may_access(first[0].user_id, user_id)


def require_visible(store: SessionStore, session_id: str, user_id: str | None) -> None:
    """SessionNotFoundError unless the session exists and ``user_id`` may read it."""
    if not owned_by(store, session_id, user_id):
        raise SessionNotFoundError.of(session_id)


def resolve_as_of(store: SessionStore, session_id: str, as_of: AsOf) -> int:
    """The version ``as_of`` names in the session; InvalidAsOfError if none."""
    if isinstance(as_of, bool) or not isinstance(as_of, int | datetime | str):
        raise InvalidAsOfError(
            f"as_of must be a version (int), a datetime or a run_id (str), "
            f"got {type(as_of).__name__}"
        )
    if isinstance(as_of, datetime):
        return _version_at(store, session_id, utc(as_of))
    if isinstance(as_of, str):
        span = store.run_span(session_id, as_of)
        if span is None:
            raise InvalidAsOfError(f"session {session_id!r} has no run {as_of!r}")
        return span[0]
    return _check_version(store, session_id, as_of)


MAX_STORED_INT = 2**63 - 1
"""The largest integer SQLite and PostgreSQL store (a signed 64-bit int)."""


def _check_version(store: SessionStore, session_id: str, version: int) -> int:
    if version < 1:
        raise InvalidAsOfError(f"as_of version must be 1 or more, got {version}")
    # Past the 64-bit integers the stores keep versions in, no version exists:
    # say so before a driver fails to convert the number.
    if version > MAX_STORED_INT or not store.read(session_id, after=version - 1, upto=version):
        last = store.indexed_version(session_id) or 0
        raise InvalidAsOfError(
            f"session {session_id!r} has no version {version} (its last is {last})"
        )
    return version


def _version_at(store: SessionStore, session_id: str, moment: datetime) -> int:
    version = store.version_at(session_id, moment)
    if version == 0:
        raise InvalidAsOfError(
            f"session {session_id!r} has no event at or before {iso_utc(moment)}"
        )
    return version
