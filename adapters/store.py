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

import gc
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)

from kern.adapters.cache import DEFAULT_CACHED_SESSIONS, CachedStream, EventCache
from kern.adapters.codec import from_stored, to_stored
from kern.domain.errors import StoreError
from kern.domain.events import SessionEvent
from kern.projections.history import HistoryView, RunHistory
from kern.projections.listing import SessionQuery, SessionSummary, listing_update

R = TypeVar("R", bound=ApplicationRecorder)


READ_PAGE = 1000
"""Events read from the database per query when a stream is read."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a long stream is decoded or folded.

    Decoding allocates many young objects that all survive, so the collector
    would scan the growing heap again and again (half of a cold read's time).
    The objects hold no cycles; the collector runs again right after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class FeedPosition(NamedTuple):
    """Where an event stands in the store-wide feed; compare positions as tuples.

    ``transaction`` is the PostgreSQL transaction id of the append (0 on the
    stores whose appends are serialised), ``sequence`` the row's notification id.
    """

    transaction: int
    sequence: int


class FeedEntry(NamedTuple):
    """One event of the store-wide feed and its position."""

    position: FeedPosition
    event: SessionEvent


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
    def stream(self, session_id: str) -> CachedStream:
        """The session's cached stream (what this process has decoded of it)."""

    @abstractmethod
    def refresh(self, stream: CachedStream) -> bool:
        """Extend ``stream`` with the events stored after it; True if there were any."""

    @abstractmethod
    def history(self, session_id: str, upto: int) -> HistoryView:
        """The session's run history as it stood at version ``upto``."""

    @abstractmethod
    def run_span(self, session_id: str, run_id: str) -> tuple[int, int | None] | None:
        """Versions of the run's RunStarted and terminal event (None while open);
        None when the session never started that run."""

    @abstractmethod
    def read_feed(self, after: FeedPosition | None = None, limit: int = 1000) -> list[FeedEntry]:
        """Events of every session in one order that never changes, after ``after``.

        A follower that reads the feed page by page sees every event once, in
        each session's version order: an event is only served once no append
        still in flight could take a position before it.
        """

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
        self.cache.stream(events[0].session_id).extend(events)

    def write_failed(self, what: str, exc: PersistenceError) -> StoreError:
        """The error to raise for a write that failed with ``exc``, other than a conflict."""
        return StoreError(f"{what}: {exc}")

    def read(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> list[SessionEvent]:
        cached = self.cache.stream(session_id)
        known = cached.version
        if upto is not None and upto <= known:
            return cached.events[after:upto]
        start = max(after, known)
        newer = self._select(session_id, after=start, upto=upto)
        if start == known:
            cached.extend(newer)
        return (cached.events[after:known] if known > after else []) + newer

    def stream(self, session_id: str) -> CachedStream:
        return self.cache.stream(session_id)

    def refresh(self, stream: CachedStream) -> bool:
        known = stream.version
        newer = self._select(stream.session_id, after=known, upto=None)
        stream.extend(newer)
        return bool(newer)

    def run_span(self, session_id: str, run_id: str) -> tuple[int, int | None] | None:
        cached = self.cache.stream(session_id)
        self.refresh(cached)
        run = cached.history.find(run_id)
        return (run.started, run.ended) if run is not None else None

    def history(self, session_id: str, upto: int) -> HistoryView:
        cached = self.cache.stream(session_id)
        if cached.version < upto:
            self.read(session_id, upto=upto)
        if cached.version >= upto:
            return HistoryView(cached.history, upto)
        return HistoryView(RunHistory().apply_all(self.read(session_id, upto=upto)), upto)

    def _select(self, session_id: str, *, after: int, upto: int | None) -> list[SessionEvent]:
        """Decoded events, read a page at a time: only one page of stored bytes is
        held at once, and the collector is paused while a long stream is decoded
        (it would rescan the growing heap of new, acyclic objects again and again)."""
        events: list[SessionEvent] = []
        with collector_paused():
            while upto is None or after < upto:
                limit = READ_PAGE if upto is None else min(READ_PAGE, upto - after)
                page = self._records(session_id, after=after, upto=upto, limit=limit)
                events += [from_stored(r) for r in page]
                if len(page) < limit:
                    break
                after = page[-1].originator_version
                del page
        return events

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

    def read_feed(self, after: FeedPosition | None = None, limit: int = 1000) -> list[FeedEntry]:
        # Appends to these stores are serialised (SQLite's single writer, the
        # in-memory recorder's lock), so notification ids follow commit order.
        start = after.sequence if after is not None else 0
        try:
            rows = self.recorder.select_notifications(start, limit, inclusive_of_start=False)
        except PersistenceError as exc:
            raise StoreError(f"could not read the feed: {exc}") from exc
        return [FeedEntry(FeedPosition(0, row.id), from_stored(row)) for row in rows]

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
