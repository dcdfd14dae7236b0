"""The in-memory store: eventsourcing's POPO recorder plus a dict index.

A real store behind the same port as SQLite and PostgreSQL (the contract
suite runs on it), kept in this process only. Thread-safe. Snapshots are a
dict beside the index, the erasure ledger a list.

A purge is the one place that reaches into the POPO recorder's private
structures (the library has no delete): the session's positions leave its
index, and its stored events are replaced by an empty placeholder that reads
and the feed skip, so notification ids keep their places.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from kern.adapters.stores.key_rows import ERASED_KINDS, DataKeyGone
from kern.adapters.stores.recorder import RecorderStore
from kern.application.keys import KeyRow
from kern.domain.erasure import ErasureEntry
from kern.projections.listing import SessionQuery, SessionSummary
from kern.projections.open_runs import InterruptedRun, OpenRunChanges, OpenRunRow
from kern.projections.segments import ReadSegment
from kern.projections.snapshots import SnapshotRow


class _IndexedPOPORecorder(POPOApplicationRecorder):
    """POPO recorder that updates a listing dict with each insert, atomically.

    One lock of its own covers the events and the index: an insert and its
    listing row happen under it, and so do reads, so no reader ever sees one
    without the other. Only public recorder methods are overridden.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self.index: dict[str, SessionSummary] = {}
        self.segments: dict[str, list[ReadSegment]] = {}
        self.snapshots: dict[str, SnapshotRow] = {}
        self.erasures: list[ErasureEntry] = []
        self.keys: dict[str, KeyRow] = {}
        self.open_runs: dict[tuple[str, str], OpenRunRow] = {}

    def purge(self, session_id: str, entry: ErasureEntry) -> None:
        """Remove every trace of the session and record ``entry``, under the lock."""
        with self.lock, self._database_lock:
            positions = self._stored_events_index.pop(session_id, {})
            for position in positions.values():
                self._stored_events[position] = _PURGED
            self.index.pop(session_id, None)
            self.segments.pop(session_id, None)
            self.snapshots.pop(session_id, None)
            self.keys.pop(session_id, None)
            self._forget_runs(session_id)
            self.erasures.append(entry)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert the events and the data keys given as ``keys=`` (IntegrityError if
        a version exists or a session has a key), then write the listing row given
        as ``listing=``; nothing is written when the insert fails."""
        with self.lock:
            keys: list[KeyRow] = list(kwargs.get("keys") or ())
            sealed_with: str | None = kwargs.get("sealed_with")
            if sealed_with is not None and stored_events:
                held = self.keys.get(str(stored_events[0].originator_id))
                if held is None or held.key_id != sealed_with:
                    raise DataKeyGone(sealed_with)
            for key in keys:
                if key.session_id in self.keys:
                    raise IntegrityError(f"session {key.session_id!r} has a data key")
            ids = super().insert_events(stored_events)
            for key in keys:
                self.keys[key.session_id] = key
            listing: dict[str, Any] | None = kwargs.get("listing")
            listings: list[dict[str, Any]] = kwargs.get("listings") or []
            for row in [listing] if listing is not None else listings:
                current = self.index.get(row["session_id"])
                if current is None:
                    self.index[row["session_id"]] = SessionSummary(**row)
                else:
                    self.index[row["session_id"]] = dataclasses.replace(current, **row)
            changes: list[OpenRunChanges] = kwargs.get("open_runs") or []
            for change in changes:
                self._change_runs(change)
        return ids

    def _change_runs(self, changes: OpenRunChanges) -> None:
        if changes.session_deleted:
            self._forget_runs(changes.session_id)
        for run_id in changes.ended:
            self.open_runs.pop((changes.session_id, run_id), None)
        for row in changes.written:
            self.open_runs[(row.session_id, row.run_id)] = row

    def _forget_runs(self, session_id: str) -> None:
        for key in [key for key in self.open_runs if key[0] == session_id]:
            del self.open_runs[key]

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        with self.lock:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """As the library's, less the places of purged events (a page still
        holds ``limit`` notifications when there are that many)."""
        found: list[Notification] = []
        with self.lock:
            while True:
                page = super().select_notifications(
                    start, limit, stop, topics, inclusive_of_start=inclusive_of_start
                )
                found += [n for n in page if n.originator_id != _PURGED.originator_id]
                if len(page) < limit or len(found) >= limit:
                    return found[:limit]
                start, inclusive_of_start = page[-1].id, False


_PURGED = StoredEvent(originator_id="", originator_version=0, topic="", state=b"")
"""What stands in a purged event's place in the recorder's list."""


class InMemoryStore(RecorderStore[_IndexedPOPORecorder]):
    """Sessions kept in this process's memory."""

    name = "the in-memory store"

    def __init__(self) -> None:
        super().__init__(_IndexedPOPORecorder())

    def list_sessions(self, query: SessionQuery) -> list[SessionSummary]:
        recorder = self.recorder
        with recorder.lock:
            rows = list(recorder.index.values())
        return query.apply(rows)

    def listing_row(self, session_id: str) -> SessionSummary | None:
        recorder = self.recorder
        with recorder.lock:
            return recorder.index.get(session_id)

    def open_runs(
        self, before: float, *, user_id: str | None = None, run_id: str | None = None
    ) -> list[InterruptedRun]:
        recorder = self.recorder
        with recorder.lock:
            found = [
                InterruptedRun.of(row, listed.user_id, listed.workflow_id)
                for row in recorder.open_runs.values()
                if row.last_at < before
                and (run_id is None or row.run_id == run_id)
                and (listed := recorder.index.get(row.session_id)) is not None
                and not listed.deleted
                and (user_id is None or listed.user_id == user_id)
            ]
        return sorted(found, key=lambda r: (r.last_event_at, r.session_id, r.run_id))

    def session_ids(self) -> list[str]:
        recorder = self.recorder
        with recorder.lock:
            rows = list(recorder.index.values())
        return [r.session_id for r in sorted(rows, key=lambda r: (r.created_at, r.session_id))]

    def read_segments(self, session_id: str, upto: int | None = None) -> list[ReadSegment]:
        recorder = self.recorder
        with recorder.lock:
            kept = recorder.segments.get(session_id, [])
            return [s for s in kept if upto is None or s.version <= upto]

    def write_segments(self, session_id: str, segments: Sequence[ReadSegment]) -> None:
        if not segments:
            return
        recorder = self.recorder
        with recorder.lock:
            kept = recorder.segments.get(session_id, [])
            start = segments[0].previous
            recorder.segments[session_id] = [s for s in kept if s.version <= start] + list(segments)

    def snapshot_row(self, session_id: str) -> SnapshotRow | None:
        recorder = self.recorder
        with recorder.lock:
            return recorder.snapshots.get(session_id)

    def save_snapshot(self, row: SnapshotRow) -> None:
        recorder = self.recorder
        with recorder.lock:
            current = recorder.snapshots.get(row.session_id)
            if current is None or current.version < row.version:
                recorder.snapshots[row.session_id] = row

    def drop_snapshot(self, row: SnapshotRow) -> None:
        recorder = self.recorder
        with recorder.lock:
            if recorder.snapshots.get(row.session_id) == row:
                del recorder.snapshots[row.session_id]

    # -- data keys ----------------------------------------------------------------

    def get_key(self, *, session_id: str | None = None, key_id: str | None = None) -> KeyRow | None:
        recorder = self.recorder
        with recorder.lock:
            if session_id is not None:
                return recorder.keys.get(session_id)
            return next((r for r in recorder.keys.values() if r.key_id == key_id), None)

    def any_key(self) -> KeyRow | None:
        recorder = self.recorder
        with recorder.lock:
            return next(iter(recorder.keys.values()), None)

    def key_rows(self, owner: str | None = None) -> list[KeyRow]:
        recorder = self.recorder
        with recorder.lock:
            rows = [r for r in recorder.keys.values() if owner is None or r.owner == owner]
        return sorted(rows, key=lambda r: (r.created_at, r.session_id))

    def key_erased(self, key_id: str) -> bool:
        recorder = self.recorder
        with recorder.lock:
            return any(
                e.kind in ERASED_KINDS and key_id in e.detail.get("keys", ())
                for e in recorder.erasures
            )

    def destroy_keys(self, rows: Sequence[KeyRow], entry: ErasureEntry) -> None:
        recorder = self.recorder
        with recorder.lock:
            for row in rows:
                recorder.keys.pop(row.session_id, None)
                listed = recorder.index.get(row.session_id)
                if listed is not None:
                    recorder.index[row.session_id] = dataclasses.replace(listed, session_name="")
            recorder.erasures.append(entry)

    def rewrap_keys(self, rows: Sequence[KeyRow]) -> None:
        recorder = self.recorder
        with recorder.lock:
            for row in rows:
                if row.session_id in recorder.keys:
                    recorder.keys[row.session_id] = row

    def delete_session_rows(self, session_id: str, entry: ErasureEntry) -> None:
        self.recorder.purge(session_id, entry)

    def insert_erasure(self, entry: ErasureEntry) -> None:
        recorder = self.recorder
        with recorder.lock:
            recorder.erasures.append(entry)

    def erasures(self) -> list[ErasureEntry]:
        recorder = self.recorder
        with recorder.lock:
            return sorted(recorder.erasures, key=lambda e: (e.erased_at, e.erasure_id))
