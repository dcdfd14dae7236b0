"""The store port: what every Kern store does, whatever database is behind it.

A store appends a session's new events at the positions after the ones it
already has (failing with :class:`AppendConflict` when another writer got
there first), reads a session's events back, and keeps the listing index in
the same transaction as the append.

:class:`RecorderStore` implements the port on an eventsourcing
``ApplicationRecorder``; the in-memory, SQLite and PostgreSQL stores differ
only in the recorder they build and in how they keep and query the index.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)

from kern.adapters.cache import DEFAULT_CACHED_SESSIONS, EventCache
from kern.adapters.codec import from_stored, to_stored
from kern.domain.errors import StoreError
from kern.domain.events import SessionEvent
from kern.projections.listing import SessionQuery, SessionSummary, listing_update

R = TypeVar("R", bound=ApplicationRecorder)


class AppendConflict(Exception):
    """Another writer appended to the session first; reload and decide again."""


class SessionStore(ABC):
    """Append and read session event streams; list sessions from the index."""

    @abstractmethod
    def append(self, events: Sequence[SessionEvent]) -> None:
        """Append events of one session atomically, or raise AppendConflict."""

    @abstractmethod
    def read(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> list[SessionEvent]:
        """The session's events with after < version <= upto, in order."""

    @abstractmethod
    def list_sessions(self, query: SessionQuery) -> list[SessionSummary]:
        """Index rows of live sessions matching ``query``, sorted and paged."""

    @abstractmethod
    def session_ids(self) -> list[str]:
        """Every session in the store, deleted ones too, oldest first."""

    @abstractmethod
    def indexed_version(self, session_id: str) -> int | None:
        """The last version the listing index recorded for the session (None if absent).

        Written in the same transaction as the events, so a log shorter than
        this lost events at its end."""

    @abstractmethod
    def read_records(self, session_id: str) -> list[StoredEvent]:
        """The session's stored records exactly as the database holds them (no cache)."""

    @abstractmethod
    def append_records(self, records: Sequence[StoredEvent]) -> None:
        """Insert stored records of one new session as they are (AppendConflict if
        any of their versions exists)."""

    @abstractmethod
    def version_at(self, session_id: str, when: datetime) -> int:
        """The last version recorded at or before ``when`` (0 if none)."""

    def close(self) -> None:  # noqa: B027 - optional hook; stores without connections skip it
        """Release connections; the store is unusable afterwards."""


class RecorderStore(SessionStore, Generic[R]):
    """A store on an eventsourcing recorder whose inserts also update the index.

    Subclasses build the recorder; its ``insert_events`` must accept the
    ``listing=`` keyword (the columns from :func:`listing_update`) and write
    them in the same transaction as the events.
    """

    def __init__(
        self, recorder: R | None, *, cached_sessions: int = DEFAULT_CACHED_SESSIONS
    ) -> None:
        self._recorder = recorder
        self.cache = EventCache(cached_sessions)

    @property
    def recorder(self) -> R:
        """The eventsourcing recorder behind this store."""
        assert self._recorder is not None
        return self._recorder

    def append(self, events: Sequence[SessionEvent]) -> None:
        if not events:
            return
        if len({e.session_id for e in events}) != 1:
            raise ValueError("one append writes to one session")
        records = [to_stored(e) for e in events]
        try:
            self.recorder.insert_events(records, listing=listing_update(events))
        except IntegrityError as exc:
            raise AppendConflict(str(exc)) from exc
        except PersistenceError as exc:
            what = f"could not append to session {events[0].session_id!r}"
            raise self.write_failed(what, exc) from exc
        self.cache.extend(events[0].session_id, events)

    def write_failed(self, what: str, exc: PersistenceError) -> StoreError:
        """The error to raise for a write that failed with ``exc``, other than a conflict."""
        return StoreError(f"{what}: {exc}")

    def read(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> list[SessionEvent]:
        cached = self.cache.get(session_id)
        if upto is None or upto > len(cached):
            start = max(after, len(cached))
            newer = self._select(session_id, after=start, upto=upto)
            if start == len(cached):
                self.cache.extend(session_id, newer)
                cached = cached + tuple(newer)
            else:
                return newer
        return list(cached[after:upto])

    def _select(self, session_id: str, *, after: int, upto: int | None) -> list[SessionEvent]:
        return [from_stored(r) for r in self._records(session_id, after=after, upto=upto)]

    def _records(
        self, session_id: str, *, after: int = 0, upto: int | None = None, **kwargs: Any
    ) -> list[StoredEvent]:
        try:
            return list(
                self.recorder.select_events(session_id, gt=after or None, lte=upto, **kwargs)
            )
        except PersistenceError as exc:
            raise StoreError(f"could not read session {session_id!r}: {exc}") from exc

    def read_records(self, session_id: str) -> list[StoredEvent]:
        return self._records(session_id)

    def append_records(self, records: Sequence[StoredEvent]) -> None:
        events = [from_stored(r) for r in records]
        if not events:
            return
        try:
            self.recorder.insert_events(list(records), listing=listing_update(events))
        except IntegrityError as exc:
            raise AppendConflict(str(exc)) from exc
        except PersistenceError as exc:
            what = f"could not import session {events[0].session_id!r}"
            raise self.write_failed(what, exc) from exc

    def version_at(self, session_id: str, when: datetime) -> int:
        """Binary search over point reads by primary key: a stream's timestamps
        never decrease, so this reads about log2(n) events, never the stream."""
        last = self._records(session_id, desc=True, limit=1)
        low, high = 0, last[0].originator_version if last else 0
        while low < high:
            middle = (low + high + 1) // 2
            (record,) = self._records(session_id, after=middle - 1, upto=middle)
            if _recorded_at(record) <= when:
                low = middle
            else:
                high = middle - 1
        return low


def _recorded_at(record: StoredEvent) -> datetime:
    stamp = json.loads(record.state)["timestamp"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
