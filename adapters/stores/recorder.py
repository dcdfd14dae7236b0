"""The store port on an eventsourcing ``ApplicationRecorder``.

The in-memory, SQLite and PostgreSQL stores differ only in the recorder they
build and in how they keep and query the listing index.

eventsourcing is used through its public API only: each store's recorder
subclass overrides public recorder methods (``insert_events``, and on
PostgreSQL ``select_events``), never the library's private helpers, so an
update of the library cannot silently bypass the listing write. That was
cheaper than pinning the library and testing each private hook: Kern
already wrote its own PostgreSQL append statement, and the SQLite and
in-memory inserts are a few lines each.

A closed store raises :class:`StoreClosedError` at once, for every operation,
before it touches its cache or its database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)

from kern.adapters.stores.codec import from_stored, stored_event, to_record, to_stored
from kern.application.cache import (
    DEFAULT_CACHED_SESSIONS,
    CachedStream,
    EventCache,
    collector_paused,
)
from kern.application.ports import AppendConflict, FeedEntry, FeedPosition, SessionStore
from kern.domain.errors import StoreClosedError, StoreError
from kern.domain.events import SessionEvent
from kern.domain.records import Record, decode_record
from kern.projections.expand import expand, has_refs
from kern.projections.history import HistoryView, RunHistory
from kern.projections.listing import listing_update

R = TypeVar("R", bound=ApplicationRecorder)
T = TypeVar("T")

READ_PAGE = 1000
"""Events read from the database per query when a stream is read."""


class RecorderStore(SessionStore, Generic[R]):
    """A store on an eventsourcing recorder whose inserts also update the index.

    Subclasses build the recorder; its ``insert_events`` must accept the
    ``listing=`` keyword (the columns from :func:`listing_update`) and write
    them in the same transaction as the events.
    """

    name = "the store"
    """What the store is, for messages (the SQL stores name their database)."""

    def __init__(
        self, recorder: R | None, *, cached_sessions: int = DEFAULT_CACHED_SESSIONS
    ) -> None:
        self._recorder = recorder
        self.cache = EventCache(cached_sessions)
        self.closed = False

    @property
    def recorder(self) -> R:
        """The eventsourcing recorder behind this store; StoreClosedError once closed."""
        self.check_open()
        assert self._recorder is not None
        return self._recorder

    def check_open(self) -> None:
        """StoreClosedError, naming the store, once it was closed."""
        if self.closed:
            raise StoreClosedError(f"{self.name} was closed; it cannot be used again")

    def close(self) -> None:
        self.closed = True

    def attempt(self, call: Callable[[], T]) -> T:
        """``call()``, one statement on the recorder: the PostgreSQL store tries it
        again over lost connections (see :mod:`kern.adapters.stores.retry`)."""
        return call()

    def append(self, events: Sequence[SessionEvent]) -> None:
        self.check_open()
        if not events:
            return
        if len({e.session_id for e in events}) != 1:
            raise ValueError("one append writes to one session")
        records = [to_stored(e) for e in events]
        listing = listing_update(events)
        recorder = self.recorder
        try:
            self.attempt(lambda: recorder.insert_events(records, listing=listing))
        except IntegrityError as exc:
            raise AppendConflict(str(exc)) from exc
        except PersistenceError as exc:
            what = f"could not append to session {events[0].session_id!r}"
            raise self.store_error(what, exc) from exc
        self.cache.stream(events[0].session_id).extend(events)

    def store_error(self, what: str, exc: PersistenceError) -> StoreError:
        """The error to raise when ``what`` failed with ``exc`` (other than a conflict)."""
        if self.closed:  # closed by another thread meanwhile
            return StoreClosedError(f"{what}: {self.name} was closed")
        return StoreError(f"{what}: {exc}")

    def read(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> list[SessionEvent]:
        self.check_open()
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
        self.check_open()
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
        self.check_open()
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
                events += self.expanded(session_id, [from_stored(r) for r in page], events)
                if len(page) < limit:
                    break
                after = page[-1].originator_version
                del page
        return events

    def expanded(
        self,
        session_id: str,
        events: list[SessionEvent],
        before: Sequence[SessionEvent] = (),
    ) -> list[SessionEvent]:
        """``events`` (read in order) with the values they store as references put
        back (see :mod:`kern.projections.expand`). A referenced event is found in
        ``events`` or ``before`` (read just before them), in the cache, or else
        read from the database."""
        if not any(has_refs(e) for e in events):
            return events
        held = self.cache.stream(session_id).events
        batch = {e.version: e for e in before[-READ_PAGE:]}

        def lookup(version: int) -> SessionEvent:
            if version <= len(held):
                return held[version - 1]
            found = batch.get(version)
            if found is None:
                (found,) = self.read(session_id, after=version - 1, upto=version)
            return found

        done: list[SessionEvent] = []
        for event in events:
            event = expand(event, lookup)
            batch[event.version] = event
            done.append(event)
        return done

    def expanded_feed(self, entries: list[FeedEntry]) -> list[FeedEntry]:
        """Feed entries whose events have their referenced values put back."""
        return [
            FeedEntry(e.position, self.expanded(e.event.session_id, [e.event])[0])
            if has_refs(e.event)
            else e
            for e in entries
        ]

    def _records(
        self, session_id: str, *, after: int = 0, upto: int | None = None, **kwargs: Any
    ) -> list[StoredEvent]:
        recorder = self.recorder
        try:
            return list(
                self.attempt(
                    lambda: recorder.select_events(session_id, gt=after or None, lte=upto, **kwargs)
                )
            )
        except PersistenceError as exc:
            raise self.store_error(f"could not read session {session_id!r}", exc) from exc

    def read_records(self, session_id: str) -> list[Record]:
        return [to_record(row) for row in self._records(session_id)]

    def last_record(self, session_id: str) -> Record | None:
        rows = self._records(session_id, desc=True, limit=1)
        return to_record(rows[0]) if rows else None

    def read_feed(self, after: FeedPosition | None = None, limit: int = 1000) -> list[FeedEntry]:
        # Appends to these stores are serialised (SQLite's single writer, the
        # in-memory recorder's lock), so notification ids follow commit order.
        start = after.sequence if after is not None else 0
        recorder = self.recorder
        try:
            rows = self.attempt(
                lambda: recorder.select_notifications(start, limit, inclusive_of_start=False)
            )
        except PersistenceError as exc:
            raise self.store_error("could not read the feed", exc) from exc
        return self.expanded_feed(
            [FeedEntry(FeedPosition(0, row.id), from_stored(row)) for row in rows]
        )

    def append_records(self, records: Sequence[Record]) -> None:
        """All the sessions' records and listing rows go to the recorder in one
        ``insert_events`` call (``listings=``), which writes them in one transaction."""
        self.check_open()
        events = [decode_record(r) for r in records]
        if not events:
            return
        sessions: dict[str, list[SessionEvent]] = {}
        for event in events:
            sessions.setdefault(event.session_id, []).append(event)
        stored = [stored_event(r) for r in records]
        listings = [listing_update(session) for session in sessions.values()]
        recorder = self.recorder
        try:
            self.attempt(lambda: recorder.insert_events(stored, listings=listings))
        except IntegrityError as exc:
            raise AppendConflict(str(exc)) from exc
        except PersistenceError as exc:
            names = ", ".join(repr(sid) for sid in list(sessions)[:3])
            more = f" and {len(sessions) - 3} more" if len(sessions) > 3 else ""
            raise self.store_error(f"could not import session(s) {names}{more}", exc) from exc

    def version_at(self, session_id: str, when: datetime) -> int:
        """Binary search over point reads by primary key: a stream's timestamps
        never decrease, so this reads about log2(n) events, never the stream."""
        last = self.last_record(session_id)
        low, high = 0, last.version if last is not None else 0
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
