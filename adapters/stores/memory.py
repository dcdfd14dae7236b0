"""The in-memory store: eventsourcing's POPO recorder plus a dict index.

A real store behind the same port as SQLite and PostgreSQL (the contract
suite runs on it), kept in this process only. Thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from kern.adapters.stores.recorder import RecorderStore
from kern.projections.listing import SessionQuery, SessionSummary


class _IndexedPOPORecorder(POPOApplicationRecorder):
    """POPO recorder that updates a listing dict under the same lock as the insert."""

    def __init__(self) -> None:
        super().__init__()
        self.index: dict[str, SessionSummary] = {}

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Runs under the recorder's lock, after the uniqueness check passed.
        ids = super()._update_table(stored_events, **kwargs)
        listing: dict[str, Any] | None = kwargs.get("listing")
        if listing is not None:
            current = self.index.get(listing["session_id"])
            if current is None:
                self.index[listing["session_id"]] = SessionSummary(**listing)
            else:
                self.index[listing["session_id"]] = dataclasses.replace(current, **listing)
        return ids


class InMemoryStore(RecorderStore[_IndexedPOPORecorder]):
    """Sessions kept in this process's memory."""

    name = "the in-memory store"

    def __init__(self) -> None:
        super().__init__(_IndexedPOPORecorder())

    def list_sessions(self, query: SessionQuery) -> list[SessionSummary]:
        with self.recorder._database_lock:
            rows = list(self.recorder.index.values())
        return query.apply(rows)

    def indexed_version(self, session_id: str) -> int | None:
        with self.recorder._database_lock:
            row = self.recorder.index.get(session_id)
        return row.version if row else None

    def session_ids(self) -> list[str]:
        with self.recorder._database_lock:
            rows = list(self.recorder.index.values())
        return [r.session_id for r in sorted(rows, key=lambda r: (r.created_at, r.session_id))]
