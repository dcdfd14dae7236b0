"""A bounded cache of the sessions this process reads and writes.

Logs are append-only and an event never changes once stored, so the events
of a session up to some version can be kept decoded and only newer ones read
from the database. Each cached stream also keeps, folded as events arrive,
the write model (the aggregate writers decide on) and the run history steps
are handed: a run's cost then does not grow with the length of its session.
Where the store has a snapshot of the session, a stream starts from it
instead of from the first event (see docs/stores.md, "Snapshots").

A cached stream holds a contiguous run of a stream's events: from version 1,
or, once started from a snapshot (:meth:`CachedStream.restart`), from the
version after the snapshot's (:attr:`CachedStream.base`); older events are
then read from the store when asked for. Its lock serialises this process's
writers of that session (they would only conflict otherwise) and the
extension of what it holds.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from kern.domain.aggregate import SessionAggregate
from kern.domain.events import SessionEvent
from kern.projections.history import RunHistory

DEFAULT_CACHED_SESSIONS = 64
DEFAULT_CACHED_EVENTS = 200_000


class CachedStream:
    """The decoded events of one session's stream after :attr:`base`, and what is
    folded from the stream up to :attr:`version`."""

    def __init__(self, session_id: str, lock: AbstractContextManager[Any] | None = None) -> None:
        self.session_id = session_id
        self.held: tuple[int, list[SessionEvent]] = (0, [])
        """:attr:`base` and :attr:`events` in one attribute, replaced as one, so a reader
        that takes it once slices consistently while a restart replaces both."""
        self.history = RunHistory()
        self.aggregate: SessionAggregate | None = None
        self.lock: AbstractContextManager[Any] = lock if lock is not None else threading.RLock()
        """Reentrant; held by the unit of work across its reads and append (the
        async stores give a task-owned one, see kern.application.bridge)."""
        self.snapshot_checked = False
        """Whether the store has looked for a snapshot of this session yet."""
        self.snapshot_version = 0
        """The version of the newest snapshot this process read or wrote (0: none)."""

    @property
    def base(self) -> int:
        """The version just before the first event held (0, or a snapshot's version)."""
        return self.held[0]

    @property
    def events(self) -> list[SessionEvent]:
        """The events held, from version :attr:`base` + 1 on."""
        return self.held[1]

    @property
    def version(self) -> int:
        """The last version held (0 when empty)."""
        base, events = self.held
        return base + len(events)

    def slice(self, after: int, upto: int) -> list[SessionEvent]:
        """The held events with after < version <= upto (``after`` at least :attr:`base`)."""
        base, events = self.held
        return events[max(after - base, 0) : max(upto - base, 0)]

    def extend(self, events: Sequence[SessionEvent]) -> bool:
        """Add ``events`` if they continue the stream (True); else change nothing."""
        with self.lock:
            start = self.version + 1
            if any(e.version != start + i for i, e in enumerate(events)):
                return False
            self.events.extend(events)
            self.history.apply_all(events)
            if self.aggregate is not None:
                self.aggregate.catch_up(events)
            return True

    def restart(self, aggregate: SessionAggregate, history: RunHistory) -> None:
        """Hold the stream from a snapshot on: the write model and history at its
        version, no events before it."""
        with self.lock:
            self.held = (aggregate.version, [])
            self.snapshot_version = aggregate.version
            self.aggregate, self.history = aggregate, history

    def prepend(self, older: Sequence[SessionEvent]) -> None:
        """Hold ``older``, the events from version 1 up to :attr:`base`, too (a read of
        the whole stream fetched them): the stream is then whole, and so is its history."""
        with self.lock:
            if not self.base or len(older) != self.base or older[0].version != 1:
                return
            events = [*older, *self.events]
            self.held = (0, events)
            self.history = RunHistory().apply_all(events)

    def write_model(self) -> SessionAggregate:
        """The aggregate at :attr:`version` (built once, then followed); hold the lock."""
        if self.aggregate is None or self.aggregate.version != self.version:
            if self.base:
                raise AssertionError("a stream started from a snapshot follows its aggregate")
            self.aggregate = SessionAggregate.replay(self.session_id, self.events)
        return self.aggregate


class EventCache:
    """The cached streams of the most recently used sessions (thread-safe).

    At most ``max_sessions`` streams and, beyond the one used last, at most
    ``max_events`` events in all: the least recently used go first.
    """

    def __init__(
        self,
        max_sessions: int = DEFAULT_CACHED_SESSIONS,
        max_events: int = DEFAULT_CACHED_EVENTS,
        new_lock: Callable[[], AbstractContextManager[Any]] = threading.RLock,
    ) -> None:
        self.new_lock = new_lock
        """Makes each stream's lock."""
        self.max_sessions = max_sessions
        self.max_events = max_events
        self._streams: OrderedDict[str, CachedStream] = OrderedDict()
        self._lock = threading.Lock()

    def stream(self, session_id: str) -> CachedStream:
        """The session's cached stream, created empty when not cached.

        With ``max_sessions`` 0 nothing is kept: each call gets a new, empty one.
        """
        with self._lock:
            cached = self._streams.get(session_id)
            if cached is None:
                cached = CachedStream(session_id, self.new_lock())
                if self.max_sessions <= 0:
                    return cached
                self._streams[session_id] = cached
            else:
                self._streams.move_to_end(session_id)
            self._evict()
            return cached

    def _evict(self) -> None:
        while len(self._streams) > self.max_sessions:
            self._streams.popitem(last=False)
        held = sum(len(stream.events) for stream in self._streams.values())
        while held > self.max_events and len(self._streams) > 1:
            _, oldest = self._streams.popitem(last=False)
            held -= len(oldest.events)

    def get(self, session_id: str) -> tuple[SessionEvent, ...]:
        """The cached events of the stream (empty when nothing is cached)."""
        with self._lock:
            cached = self._streams.get(session_id)
        return tuple(cached.events) if cached is not None else ()

    def forget(self, session_id: str) -> None:
        """Drop the session's stream (after a purge: nothing of it stays cached)."""
        with self._lock:
            self._streams.pop(session_id, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._streams.clear()


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
