"""Reading a session's read model from its stored segments and the events after them.

``get_session`` (now or as of a past version) starts from the store's
read-model segments (:mod:`kern.projections.segments`) up to that version
that still match the log, and folds only the events after the last of them.
A plain read that folded at least :data:`SEGMENT_RUNS` finished runs from
events keeps them as new segments, cut where no run was open, so the next
reader starts there. Segments are derived data: one that does not match the
log is ignored and replaced, and a store that cannot write them (a
read-only role, a busy file) still answers the read.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence

from kern.application.cache import collector_paused
from kern.application.ports import SessionStore
from kern.domain.errors import KernError
from kern.domain.events import RunCompleted, RunStarted, SessionEvent
from kern.domain.sealing import open_blob, seal_blob
from kern.projections.fold import SessionFold
from kern.projections.segments import (
    SEGMENT_RUNS,
    ReadSegment,
    encode_segment,
    linked,
    restore,
)
from kern.projections.session import WorkflowSession


def read_session(store: SessionStore, session_id: str, upto: int | None) -> WorkflowSession | None:
    """The read model of ``session_id`` at version ``upto`` (None: its last);
    None when it does not exist there or was deleted."""
    with collector_paused():
        fold, used, events = _start(store, session_id, upto)
        if upto is not None:
            return fold.apply_all(events).session
        new = _fold_keeping_segments(fold, events, used[-1] if used else None)
    if new:
        # Derived data: when it cannot be kept, the next reader folds these runs again.
        with contextlib.suppress(KernError):
            sealed = _sealed(store, session_id, new)
            if sealed:
                store.write_segments(session_id, sealed)
    return fold.session


def _context(session_id: str, segment: ReadSegment) -> str:
    return f"segment\n{session_id}\n{segment.version}\n{segment.hash}"


def _sealed(store: SessionStore, session_id: str, segments: list[ReadSegment]) -> list[ReadSegment]:
    """``segments`` as a store with a keyring keeps them: their bodies (the read
    model's values) sealed with the session's key, so no copy of a value is in
    clear and an erasure forgets them with the log. None are kept for a session
    without a stored key (an erased one)."""
    keys = store.data_keys
    if keys is None:
        return segments
    key = keys.current(session_id)
    if key is None:
        return []
    return [
        dataclasses.replace(s, body=seal_blob(key, s.body, _context(session_id, s)))
        for s in segments
    ]


def _opened(store: SessionStore, session_id: str, rows: list[ReadSegment]) -> list[ReadSegment]:
    """Stored segments with their bodies opened; on a store with a keyring, the
    ones before the first that does not open (its key destroyed, or changed)."""
    keys = store.data_keys
    if keys is None:
        return rows
    opened = []
    for row in rows:
        try:
            body = open_blob(row.body, keys.lookup, _context(session_id, row))
        except (ValueError, KernError):
            body = None
        if body is None:
            break
        opened.append(dataclasses.replace(row, body=body))
    return opened


def _start(
    store: SessionStore, session_id: str, upto: int | None
) -> tuple[SessionFold, list[ReadSegment], list[SessionEvent]]:
    """A fold at the last stored segment (up to ``upto``) that matches the log,
    those segments, and the events after them.

    The events are read from the segment's own last version on: the log still
    has the segment only if that event's hash is the one the segment names (the
    hash chain then vouches for every event before it). A segment that does
    not match is dropped and the one before it tried."""
    chain = linked(_opened(store, session_id, store.read_segments(session_id, upto)))
    while True:
        fold, used = restore(chain)
        if not used:
            return fold, used, store.read(session_id, upto=upto)
        last = used[-1]
        events = store.read(session_id, after=last.version - 1, upto=upto)
        if events and events[0].version == last.version and events[0].hash == last.hash:
            return fold, used, events[1:]
        chain = used[:-1]


def _fold_keeping_segments(
    fold: SessionFold, events: Sequence[SessionEvent], last: ReadSegment | None
) -> list[ReadSegment]:
    """Apply ``events``, cutting a segment after each event that finishes at
    least SEGMENT_RUNS runs since the last cut with no run left open."""
    new: list[ReadSegment] = []
    open_runs: set[str] = set()
    covered = last.runs_before + last.runs if last is not None else 0
    for event in events:
        fold.apply(event)
        if type(event) is RunStarted:
            open_runs.add(event.run_id)
        elif type(event) is RunCompleted:
            open_runs.discard(event.run_id)
            session = fold.session
            runs = session.runs if session is not None else None
            if (
                session is not None
                and runs is not None
                and not open_runs
                and (len(runs) - covered >= SEGMENT_RUNS)
            ):
                last = encode_segment(session, hash=event.hash, previous=last)
                covered += last.runs
                new.append(last)
    return new if fold.session is not None else []
