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

Snapshots (:mod:`kern.projections.snapshots`) are kept beside the log, one
row per session: written right after the append of a RunCompleted once
:data:`SNAPSHOT_EVERY` events have been appended since the last one, and read
the first time a process refreshes a session it holds little of. A snapshot
that does not match the log is ignored (and dropped), never trusted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)

from kern.adapters.stores.codec import stored_event, to_record, to_stored
from kern.adapters.stores.key_rows import DataKeyGone
from kern.application.cache import (
    DEFAULT_CACHED_SESSIONS,
    CachedStream,
    EventCache,
    collector_paused,
)
from kern.application.keys import DataKeys, Keyring, KeyRow
from kern.application.ports import AppendConflict, FeedEntry, FeedPosition, SessionStore
from kern.domain.erasure import ErasureEntry
from kern.domain.errors import KernError, KeyringError, StoreClosedError, StoreError
from kern.domain.events import RunCompleted, RunStarted, SessionEvent
from kern.domain.records import Record, decode_record
from kern.domain.sealing import DataKey, open_blob, seal_blob
from kern.projections import snapshots
from kern.projections.expand import expand, has_refs
from kern.projections.history import HistoryRun, HistoryView, RunHistory
from kern.projections.listing import listing_update
from kern.projections.open_runs import open_run_changes
from kern.projections.snapshots import SnapshotRow, UnusableSnapshot

R = TypeVar("R", bound=ApplicationRecorder)
T = TypeVar("T")

READ_PAGE = 1000
"""Events read from the database per query when a stream is read."""

SNAPSHOT_EVERY = 50
"""Events appended since a session's last snapshot before the next RunCompleted
writes a new one (10 runs of a three-step workflow): a cold writer decodes at
most about this many events, and the hot path pays one snapshot write per
that many events (see docs/stores.md, "Snapshots")."""


class RecorderStore(SessionStore, Generic[R]):
    """A store on an eventsourcing recorder whose inserts also update the index.

    Subclasses build the recorder; its ``insert_events`` must accept the
    ``listing=`` keyword (the columns from :func:`listing_update`) and the
    ``open_runs=`` keyword (a list of :func:`open_run_changes`) and write them
    in the same transaction as the events.
    """

    name = "the store"
    """What the store is, for messages (the SQL stores name their database)."""

    def __init__(
        self,
        recorder: R | None,
        *,
        cached_sessions: int = DEFAULT_CACHED_SESSIONS,
        new_lock: Callable[[], AbstractContextManager[Any]] = threading.RLock,
    ) -> None:
        self._recorder = recorder
        self.new_lock = new_lock
        """Makes the store's locks: thread locks, or task-owned ones on the async
        stores, whose code waits on the event loop (kern.application.bridge)."""
        self.cache = EventCache(cached_sessions, new_lock=new_lock)
        self.closed = False
        self.data_keys: DataKeys | None = None
        """With a keyring: the data keys its sealed values are read and written with."""
        self._keys_checked = True

    def use_keyring(self, keyring: Keyring | None, *, check_now: bool = True) -> None:
        """Seal what is written and open what is read with ``keyring``'s data keys.
        The check that it can (KeyringError, nothing written, when it cannot unwrap
        the stored keys; or, without a keyring, when the store holds keys) runs now,
        or with ``check_now=False`` before the first append."""
        self.data_keys = DataKeys(self, keyring) if keyring is not None else None
        self._keys_checked = False
        if check_now:
            self.check_keys()

    def check_keys(self) -> None:
        """The keyring check of :meth:`use_keyring`, once."""
        if self._keys_checked:
            return
        if self.data_keys is not None:
            self.data_keys.check()
        elif self.any_key() is not None:
            raise KeyringError(
                f"{self.name} holds encrypted sessions (its keys table has data keys): "
                "open it with its keyring (keyring=LocalKeyring.from_env(...))"
            )
        self._keys_checked = True

    def forget_cached(self, session_ids: Sequence[str]) -> None:
        # Decoded events hold the values in clear: no stream of this process keeps them.
        self.cache.clear()

    def decode(self, row: StoredEvent) -> SessionEvent:
        """The event a row holds, its sealed values opened with this store's keys."""
        return decode_record(to_record(row), self.key_lookup)

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
        self.check_keys()
        records = [to_stored(e) for e in events]
        listing = listing_update(events)
        runs = [open_run_changes(events)]
        recorder = self.recorder
        session_id = events[0].session_id
        # A key made for these events is stored with them, in their transaction;
        # a stored key they were sealed with must still be there when they land
        # (another process may have erased it since this one read it).
        # (A scratch store that borrows another store's keys, as replay's does,
        # stores and checks none: they are the other store's.)
        own = self.data_keys if self.data_keys and self.data_keys.table is self else None
        made = own.take_new(session_id) if own else None
        keys = [made[0]] if made is not None else []
        held = own.held(session_id) if own and made is None else None
        try:
            self.attempt(
                lambda: recorder.insert_events(
                    records, listing=listing, keys=keys, sealed_with=held, open_runs=runs
                )
            )
        except DataKeyGone:
            assert own is not None and held is not None
            own.drop(held)
            raise AppendConflict(
                f"the data key of session {session_id!r} was destroyed meanwhile"
            ) from None
        except IntegrityError as exc:
            raise AppendConflict(str(exc)) from exc
        except PersistenceError as exc:
            what = f"could not append to session {session_id!r}"
            raise self.store_error(what, exc) from exc
        if made is not None and own is not None:
            own.stored(made)
        stream = self.cache.stream(session_id)
        if stream.extend(events) and isinstance(events[-1], RunCompleted):
            self._snapshot(stream)

    def _snapshot(self, stream: CachedStream) -> None:
        """Write the stream's snapshot if :data:`SNAPSHOT_EVERY` events came since
        the last; a snapshot is derived data, so a failed write fails nothing."""
        aggregate = stream.aggregate
        if stream.version - stream.snapshot_version < SNAPSHOT_EVERY:
            return
        if aggregate is None or aggregate.version != stream.version:
            return
        # Whatever goes wrong (a lost connection, a role without the grant, a
        # full disk), the run is recorded; the next run boundary tries again.
        with contextlib.suppress(Exception):
            row = self._sealed(snapshots.take(aggregate, stream.history))
            if row is None:
                return
            self.attempt(lambda: self.save_snapshot(row))
            stream.snapshot_version = row.version

    @abstractmethod
    def snapshot_row(self, session_id: str) -> SnapshotRow | None:
        """The session's stored snapshot as it is (None if it has none)."""

    @abstractmethod
    def save_snapshot(self, row: SnapshotRow) -> None:
        """Store ``row`` unless the session's stored snapshot is as new or newer."""

    @abstractmethod
    def drop_snapshot(self, row: SnapshotRow) -> None:
        """Delete the session's snapshot if it is still exactly ``row``."""

    def purge_session(self, session_id: str, entry: ErasureEntry) -> None:
        """Not tried again over a lost connection: the ledger row of a purge that
        committed unseen would be written twice. The caller reads the ledger."""
        self.check_open()
        try:
            self.delete_session_rows(session_id, entry)
        except PersistenceError as exc:
            raise self.store_error(f"could not purge session {session_id!r}", exc) from exc
        finally:
            # Whatever happened, read the session from the database next time.
            self.cache.forget(session_id)

    @abstractmethod
    def delete_session_rows(self, session_id: str, entry: ErasureEntry) -> None:
        """The purge's one transaction (see :meth:`SessionStore.purge_session`)."""

    def record_erasure(self, entry: ErasureEntry) -> None:
        self.check_open()
        try:
            self.attempt(lambda: self.insert_erasure(entry))
        except PersistenceError as exc:
            raise self.store_error("could not record the erasure", exc) from exc

    @abstractmethod
    def insert_erasure(self, entry: ErasureEntry) -> None:
        """Insert the ledger row of ``entry`` in a transaction of its own."""

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
        base, events = cached.held  # taken once: a restart meanwhile replaces both
        known = base + len(events)
        older: list[SessionEvent] = []
        if after < base:  # before the snapshot the stream started from: not cached
            stop = base if upto is None else min(upto, base)
            older = self._select(session_id, after=after, upto=stop)
            if upto is not None and upto <= base:
                return older
            if after == 0:  # the whole stream is read: keep it whole
                cached.prepend(older)
                if not cached.base:
                    return self.read(session_id, upto=upto)
            after = base
        if upto is not None and upto <= known:
            return older + events[after - base : upto - base]
        start = max(after, known)
        newer = self._select(session_id, after=start, upto=upto)
        if start == known:
            cached.extend(newer)
        return older + events[after - base : known - base] + newer

    def stream(self, session_id: str) -> CachedStream:
        self.check_open()
        return self.cache.stream(session_id)

    def refresh(self, stream: CachedStream) -> bool:
        known = stream.version
        with stream.lock:
            if not stream.snapshot_checked:
                stream.snapshot_checked = True
                if self._restart(stream):
                    return stream.version > known
        newer = self._select(stream.session_id, after=known, upto=None)
        stream.extend(newer)
        return bool(newer)

    def _restart(self, stream: CachedStream) -> bool:
        """Start ``stream`` from the session's snapshot and the events after it, if
        there is one newer than what the stream holds and it matches the log: its
        hash is the hash of the event stored at its version. One that does not
        match is dropped (the next run boundary writes a new one)."""
        session_id = stream.session_id
        try:
            row = self.attempt(lambda: self.snapshot_row(session_id))
        except (StoreError, PersistenceError):
            return False  # derived data: read the log instead
        if row is None or row.version <= stream.version:
            return False
        try:
            aggregate, history = snapshots.restore(self._opened(row), session_id)
            tail = self._select(session_id, after=row.version - 1, upto=None)
            if not tail or tail[0].version != row.version or tail[0].hash != row.head_hash:
                raise UnusableSnapshot("the snapshot does not match the log")
        except UnusableSnapshot:
            with contextlib.suppress(StoreError, PersistenceError):
                self.attempt(lambda: self.drop_snapshot(row))
            return False
        stream.restart(aggregate, history)
        stream.extend(tail[1:])
        return True

    def _sealed(self, row: SnapshotRow) -> SnapshotRow | None:
        """``row`` as this store keeps it: with a keyring, its body (the session's
        state and values) sealed with the session's key; None when the session
        has no stored key (an erased one keeps no snapshot)."""
        if self.data_keys is None:
            return row
        key = self.data_keys.current(row.session_id) if self.data_keys.table is self else None
        if key is None:
            return None
        body = seal_blob(key, row.body, _snapshot_context(row))
        return dataclasses.replace(row, body=body, checksum=hashlib.sha256(body).hexdigest())

    def _opened(self, row: SnapshotRow) -> SnapshotRow:
        """A stored snapshot with its body opened (UnusableSnapshot when it does
        not: its key destroyed, or its bytes changed or moved)."""
        if self.data_keys is None:
            return row
        if hashlib.sha256(row.body).hexdigest() != row.checksum:
            raise UnusableSnapshot("the snapshot's bytes do not match its checksum")
        try:
            body = open_blob(row.body, self.data_keys.lookup, _snapshot_context(row))
        except (ValueError, KernError):
            body = None
        if body is None:
            raise UnusableSnapshot("the snapshot does not open with the session's key")
        return dataclasses.replace(row, body=body, checksum=hashlib.sha256(body).hexdigest())

    def run_span(self, session_id: str, run_id: str) -> tuple[int, int | None] | None:
        cached = self.cache.stream(session_id)
        self.refresh(cached)
        run = cached.history.find(run_id)
        if run is None and cached.history.floor:
            # Started from a snapshot, whose run index holds only the newest runs.
            run = RunHistory().apply_all(self.read(session_id)).find(run_id)
        return (run.started, run.ended) if run is not None else None

    def history(self, session_id: str, upto: int) -> HistoryView:
        self.check_open()
        cached = self.cache.stream(session_id)
        if cached.version < upto:
            self.read(session_id, upto=upto)
        if cached.version >= upto:
            return HistoryView(
                cached.history,
                upto,
                load=lambda runs: self._load_runs(session_id, runs),
                rebuild=lambda: RunHistory().apply_all(self.read(session_id, upto=upto)),
            )
        return HistoryView(RunHistory().apply_all(self.read(session_id, upto=upto)), upto)

    def _load_runs(self, session_id: str, runs: Sequence[HistoryRun]) -> None:
        """Fill in the input and content of runs a snapshot's run index named:
        one read of the versions from the first one's start to the last one's end."""
        ends = [r.ended for r in runs if r.ended is not None]
        first = min(r.started for r in runs)
        events = self.read(session_id, after=first - 1, upto=max([first, *ends]))
        by_version = {e.version: e for e in events}
        for run in runs:
            started = by_version.get(run.started)
            ended = by_version.get(run.ended) if run.ended is not None else None
            run.input = started.input.value if isinstance(started, RunStarted) else None
            run.content = ended.content.value if isinstance(ended, RunCompleted) else None
            run.loaded = True

    def _select(self, session_id: str, *, after: int, upto: int | None) -> list[SessionEvent]:
        """Decoded events, read a page at a time: only one page of stored bytes is
        held at once, and the collector is paused while a long stream is decoded
        (it would rescan the growing heap of new, acyclic objects again and again)."""
        events: list[SessionEvent] = []
        read: dict[int, SessionEvent] = {}  # what this read decoded, for references into it
        with collector_paused():
            while upto is None or after < upto:
                limit = READ_PAGE if upto is None else min(READ_PAGE, upto - after)
                page = self._records(session_id, after=after, upto=upto, limit=limit)
                events += self.expanded(session_id, [self.decode(r) for r in page], read)
                if len(page) < limit:
                    break
                after = page[-1].originator_version
                del page
        return events

    def expanded(
        self,
        session_id: str,
        events: list[SessionEvent],
        known: dict[int, SessionEvent] | None = None,
    ) -> list[SessionEvent]:
        """``events`` (read in order) with the values they store as references put
        back (see :mod:`kern.projections.expand`). A referenced event is found in
        ``known`` (events just read, by version; each of ``events`` is added to it),
        in the cache, or else read from the database."""
        known = {} if known is None else known
        if not any(has_refs(e) for e in events):
            known.update((e.version, e) for e in events)
            return events
        base, held = self.cache.stream(session_id).held

        def lookup(version: int) -> SessionEvent:
            if base < version <= base + len(held):
                return held[version - base - 1]
            found = known.get(version)
            if found is None:
                (found,) = self.read(session_id, after=version - 1, upto=version)
            return found

        done: list[SessionEvent] = []
        for event in events:
            event = expand(event, lookup)
            known[event.version] = event
            done.append(event)
        return done

    def expanded_feed(self, entries: list[FeedEntry]) -> list[FeedEntry]:
        """Feed entries whose events have their referenced values put back; a
        reference to an event earlier in the same page is resolved from the page."""
        pages: dict[str, dict[int, SessionEvent]] = {}
        done: list[FeedEntry] = []
        for entry in entries:
            session_id = entry.event.session_id
            (event,) = self.expanded(session_id, [entry.event], pages.setdefault(session_id, {}))
            done.append(entry if event is entry.event else FeedEntry(entry.position, event))
        return done

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
            [FeedEntry(FeedPosition(0, row.id), self.decode(row)) for row in rows]
        )

    def append_records(self, records: Sequence[Record], keys: Sequence[KeyRow] = ()) -> None:
        """All the sessions' records, listing rows and data keys go to the recorder
        in one ``insert_events`` call (``listings=``, ``keys=``), which writes them
        in one transaction."""
        self.check_open()
        self.check_keys()
        lookup = self.key_lookup
        if keys and self.data_keys is not None:
            data_keys = self.data_keys
            incoming = {row.key_id: DataKey(row.key_id, data_keys.unwrap(row)) for row in keys}

            def lookup(key_id: str) -> DataKey | None:
                return incoming[key_id] if key_id in incoming else data_keys.lookup(key_id)

        events = [decode_record(r, lookup) for r in records]
        if not events:
            return
        sessions: dict[str, list[SessionEvent]] = {}
        for event in events:
            sessions.setdefault(event.session_id, []).append(event)
        stored = [stored_event(r) for r in records]
        listings = [listing_update(session) for session in sessions.values()]
        runs = [open_run_changes(session) for session in sessions.values()]
        recorder = self.recorder
        try:
            self.attempt(
                lambda: recorder.insert_events(
                    stored, listings=listings, keys=list(keys), open_runs=runs
                )
            )
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


def _snapshot_context(row: SnapshotRow) -> str:
    return f"snapshot\n{row.session_id}\n{row.version}\n{row.head_hash}"
