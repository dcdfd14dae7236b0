"""Audit: prove a session log was not altered, and move logs between stores.

``verify`` reads a session's records straight from the database and walks
its hash chain with :func:`kern.domain.chain.verify_records`.

``export`` writes each stored event as one JSON line,
``{"session_id", "version", "topic", "payload"}``, where ``payload`` is the
stored JSON object itself (hash included), so ``encode_json(payload)`` gives
back the stored bytes exactly. ``import_lines`` reads such lines, checks
every chain and that no session exists yet, and only then writes each
session in one atomic append: an import is refused whole, never half done
(unless another writer creates one of its sessions meanwhile).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from kern.application.ports import AppendConflict, SessionStore
from kern.application.timetravel import owned_by
from kern.domain.chain import VerifyReport, verify_records
from kern.domain.encoding import encode_json
from kern.domain.errors import (
    InvalidInputError,
    LogIntegrityError,
    SessionExistsError,
    SessionNotFoundError,
)
from kern.domain.identity import validate_session_id
from kern.domain.records import Record

Progress = Callable[[int, int], None]
"""Called with (done, total) as work advances: sessions for verify and export,
events for import."""


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote: the sessions, in order, and how many events."""

    sessions: list[str]
    events: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"sessions": list(self.sessions), "events": self.events}


# -- verify ----------------------------------------------------------------------


def verify(
    store: SessionStore, session_id: str | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Verify one session (SessionNotFoundError if it has no events) or all of them."""
    if session_id is not None:
        session_id = validate_session_id(session_id)
        records = store.read_records(session_id)
        if not records and session_id not in store.session_ids():
            raise SessionNotFoundError.of(session_id)
        ids, preread = [session_id], {session_id: records}
    else:
        ids, preread = store.session_ids(), {}
    results = []
    _report(progress, 0, len(ids))
    for done, sid in enumerate(ids, start=1):
        records = preread[sid] if sid in preread else store.read_records(sid)
        results.append(verify_records(sid, records, store.indexed_version(sid)))
        _report(progress, done, len(ids))
    return VerifyReport(results)


# -- export ----------------------------------------------------------------------


def export(
    store: SessionStore,
    session_id: str | None = None,
    progress: Progress | None = None,
    user_id: str | None = None,
) -> Iterator[str]:
    """JSON lines (no newline at the end) for one session or all, oldest first.

    An unknown ``session_id`` (or, with ``user_id``, another user's) raises
    SessionNotFoundError at once, not when the lines are first read.
    """
    if session_id is None:
        ids = store.session_ids()
        if user_id is not None:
            ids = [sid for sid in ids if owned_by(store, sid, user_id)]
        return _export_all(store, ids, progress)
    session_id = validate_session_id(session_id)
    records = store.read_records(session_id)
    if not records or not owned_by(store, session_id, user_id):
        raise SessionNotFoundError.of(session_id)
    return _export_one(session_id, records, progress)


def _export_all(store: SessionStore, ids: list[str], progress: Progress | None) -> Iterator[str]:
    _report(progress, 0, len(ids))
    for done, sid in enumerate(ids, start=1):
        for record in store.read_records(sid):
            yield export_line(sid, record)
        _report(progress, done, len(ids))


def _export_one(session_id: str, records: list[Record], progress: Progress | None) -> Iterator[str]:
    _report(progress, 0, 1)
    for record in records:
        yield export_line(session_id, record)
    _report(progress, 1, 1)


def export_line(session_id: str, record: Record) -> str:
    """One stored record as a JSON line; LogIntegrityError if its payload is not JSON."""
    try:
        payload = json.loads(record.state)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        problem = "unreadable: the stored payload is not a JSON object"
        raise LogIntegrityError(
            f"session {session_id!r} cannot be exported at version {record.version}: {problem}",
            session_id=session_id,
            version=record.version,
            problem=problem,
        )
    line = {
        "session_id": session_id,
        "version": record.version,
        "topic": record.topic,
        "payload": payload,
    }
    return encode_json(line).decode("utf-8")


# -- import ----------------------------------------------------------------------


class _Stream(NamedTuple):
    """One session's records from an import, with the line each came from."""

    records: list[Record]
    line_numbers: list[int]


def import_lines(
    store: SessionStore, lines: Iterable[str], progress: Progress | None = None
) -> ImportReport:
    """Import exported lines; nothing is written unless every session checks out."""
    streams = _read_streams(lines)
    for session_id, stream in streams.items():
        _check_chain(session_id, stream)
    for session_id in streams:
        if store.read_records(session_id):
            raise _exists(session_id)
    total = sum(len(s.records) for s in streams.values())
    done = 0
    _report(progress, done, total)
    for session_id, stream in streams.items():
        try:
            store.append_records(stream.records)
        except AppendConflict:
            raise _exists(session_id) from None
        done += len(stream.records)
        _report(progress, done, total)
    return ImportReport(list(streams), total)


def _read_streams(lines: Iterable[str]) -> dict[str, _Stream]:
    """Parse every line, grouped by session; each session's lines must be together."""
    streams: dict[str, _Stream] = {}
    current: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        session_id, record = _parse_line(line, number)
        if session_id != current and session_id in streams:
            raise InvalidInputError(
                f"line {number}: session {session_id!r} continues after other sessions' "
                "lines; each session's lines must be together"
            )
        current = session_id
        stream = streams.setdefault(session_id, _Stream([], []))
        stream.records.append(record)
        stream.line_numbers.append(number)
    return streams


def _parse_line(line: str, number: int) -> tuple[str, Record]:
    """The session and stored record one exported line holds."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InvalidInputError(f"line {number}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"line {number}: expected a JSON object")
    session_id, version = data.get("session_id"), data.get("version")
    topic, payload = data.get("topic"), data.get("payload")
    if not isinstance(session_id, str) or not session_id.strip():
        raise InvalidInputError(f"line {number}: session_id must be a non-empty string")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInputError(f"line {number}: version must be a positive integer")
    if not isinstance(topic, str) or not isinstance(payload, dict):
        raise InvalidInputError(f"line {number}: topic must be a string and payload an object")
    try:
        state = encode_json(payload)
    except ValueError as exc:
        raise InvalidInputError(f"line {number}: payload cannot be stored ({exc})") from None
    return session_id, Record(session_id, version, topic, state)


def _check_chain(session_id: str, stream: _Stream) -> None:
    """LogIntegrityError naming the first bad version (and its line) of ``stream``."""
    result = verify_records(session_id, stream.records)
    if result.ok:
        return
    assert result.first_bad_version is not None and result.problem is not None
    line = stream.line_numbers[min(result.first_bad_version, len(stream.line_numbers)) - 1]
    raise LogIntegrityError(
        f"session {session_id!r} does not verify at version {result.first_bad_version} "
        f"(line {line}): {result.problem}",
        session_id=session_id,
        version=result.first_bad_version,
        problem=result.problem,
    )


def _exists(session_id: str) -> SessionExistsError:
    return SessionExistsError(
        f"session {session_id!r} already exists; an import never overwrites a session",
        session_id=session_id,
    )


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
