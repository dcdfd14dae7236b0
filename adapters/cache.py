"""A bounded cache of decoded session events.

Logs are append-only and an event never changes once stored, so the events
of a session up to some version can be kept decoded and only newer ones read
from the database. That keeps a run's cost from growing with the length of
its session's log (decoding dominates a read). The cache only ever holds a
contiguous prefix of a stream, starting at version 1.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from kern.domain.events import SessionEvent

DEFAULT_CACHED_SESSIONS = 64


class EventCache:
    """The decoded prefix of the most recently used sessions' streams (thread-safe)."""

    def __init__(self, max_sessions: int = DEFAULT_CACHED_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._streams: OrderedDict[str, tuple[SessionEvent, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> tuple[SessionEvent, ...]:
        """The cached prefix of the stream (empty when nothing is cached)."""
        with self._lock:
            events = self._streams.get(session_id, ())
            if events:
                self._streams.move_to_end(session_id)
            return events

    def extend(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        """Add ``events`` if they continue the cached prefix; otherwise keep it as is."""
        if not events or self.max_sessions <= 0:
            return
        with self._lock:
            cached = self._streams.get(session_id, ())
            if events[0].version != len(cached) + 1:
                return
            if any(e.version != len(cached) + 1 + i for i, e in enumerate(events)):
                return
            self._streams[session_id] = cached + tuple(events)
            self._streams.move_to_end(session_id)
            while len(self._streams) > self.max_sessions:
                self._streams.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._streams.clear()
