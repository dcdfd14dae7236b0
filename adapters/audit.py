"""Audit: prove a session log was not altered, and move logs between stores.

``verify`` reads a session's records straight from the database and walks
its hash chain (see :mod:`kern.domain.encoding`): versions must run 1, 2, 3
... with none missing, each record must decode, be stored in the canonical
encoding, and carry the hash recomputed from its stored bytes and the hash
stored before it. The first version where that fails is reported with what
was found there: a missing event, events out of order, changed content or a
changed hash.

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from eventsourcing.persistence import StoredEvent

from kern.adapters.codec import from_stored, state_bytes
from kern.adapters.store import AppendConflict, SessionStore
from kern.adapters.timetravel import owned_by
from kern.domain.aggregate import validate_session_id
from kern.domain.encoding import GENESIS_HASH, encode_json, link_hash
from kern.domain.errors import (
    InvalidInputError,
    LogIntegrityError,
    SessionExistsError,
    SessionNotFoundError,
    StoreError,
)

Progress = Callable[[int, int], None]
"""Called with (done, total) as work advances: sessions for verify and export,
events for import."""


@dataclass(frozen=True)
class SessionVerification:
    """How one session's log checked out."""

    session_id: str
    ok: bool
    events: int
    first_bad_version: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """The verification of one or more sessions; ok when every one is."""

    sessions: list[SessionVerification]

    @property
    def ok(self) -> bool:
        """Whether every session verified."""
        return all(s.ok for s in self.sessions)

    @property
    def failed(self) -> list[SessionVerification]:
        """The sessions that did not verify."""
        return [s for s in self.sessions if not s.ok]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form: ok, then each session."""
        return {"ok": self.ok, "sessions": [s.to_json() for s in self.sessions]}


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote: the sessions, in order, and how many events."""

    sessions: list[str]
    events: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"sessions": list(self.sessions), "events": self.events}


# -- verify ----------------------------------------------------------------------


class _Link(NamedTuple):
    """A record's parts as the chain sees them."""

    topic: str
    payload: bytes
    stored_hash: str
    canonical: bool


def verify(
    store: SessionStore, session_id: str | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Verify one session (SessionNotFoundError if it has no events) or all of them."""
    if session_id is not None:
        session_id = validate_session_id(session_id)
        records = store.read_records(session_id)
        if not records and session_id not in store.session_ids():
            raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
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


def verify_records(
    session_id: str, records: Sequence[StoredEvent], indexed_version: int | None = None
) -> SessionVerification:
    """Walk the hash chain of ``records`` (one session's, in stored order).

    ``indexed_version``, the last version the store's listing recorded, catches
    events removed from the end of a log, which the chain alone cannot see."""
    if not records:
        return SessionVerification(
            session_id, False, 0, 1, "missing event: the session has no stored events"
        )
    previous = GENESIS_HASH
    for position in range(1, len(records) + 1):
        problem = _position_problem(records, position) or _link_problem(
            session_id, records, position, previous
        )
        if isinstance(problem, str):
            return SessionVerification(session_id, False, len(records), position, problem)
        previous = problem.stored_hash
    if indexed_version is not None and indexed_version > len(records):
        return SessionVerification(
            session_id,
            False,
            len(records),
            len(records) + 1,
            f"missing event: the log ends at version {len(records)} but the listing "
            f"recorded version {indexed_version}",
        )
    return SessionVerification(session_id, True, len(records))


def _position_problem(records: Sequence[StoredEvent], position: int) -> str | None:
    """What is wrong when the record at ``position`` is not version ``position``."""
    found = records[position - 1].originator_version
    if found == position:
        return None
    if found < position:
        return f"order changed: version {found} appears twice"
    later = [r.originator_version for r in records[position:]]
    if position in later:
        return f"order changed: version {position} is stored after version {found}"
    before = f"version {position - 1}" if position > 1 else "the start"
    return f"missing event: version {position} is absent (the log goes from {before} to {found})"


def _link_problem(
    session_id: str, records: Sequence[StoredEvent], position: int, previous: str
) -> str | _Link:
    """What is wrong with the record at ``position`` when the chain before it holds
    (or, when nothing is, its link)."""
    record = records[position - 1]
    link = _parse(record)
    if isinstance(link, str):
        return link
    if link_hash(previous, link.topic, session_id, position, link.payload) == link.stored_hash:
        if not link.canonical:
            return "content changed: the stored bytes are not in Kern's canonical encoding"
        return link
    return _mismatch(session_id, records, position, previous, link)


def _parse(record: StoredEvent) -> _Link | str:
    """The record's chain parts, or what makes it unreadable."""
    try:
        data = json.loads(record.state)
    except ValueError as exc:
        return f"unreadable: the stored payload is not JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
        return "unreadable: the stored payload is not a JSON object with a hash"
    try:
        from_stored(record)
    except StoreError as exc:
        return f"unreadable: {exc}"
    state = state_bytes(record)
    stored_hash = data["hash"]
    # Canonical bytes end with the hash as the last key: the payload is then
    # what comes before it, and no second encoding is needed.
    suffix = b',"hash":' + encode_json(stored_hash) + b"}"
    if state.endswith(suffix) and encode_json(data) == state:
        return _Link(record.topic, state[: -len(suffix)] + b"}", stored_hash, True)
    del data["hash"]
    return _Link(record.topic, encode_json(data), stored_hash, False)


def _mismatch(
    session_id: str,
    records: Sequence[StoredEvent],
    position: int,
    previous: str,
    link: _Link,
) -> str:
    """Why a record's hash does not match: moved, hash edited, or content edited."""
    for other in records:
        if other is records[position - 1]:
            continue
        candidate = _parse(other)
        if not isinstance(candidate, str) and candidate.stored_hash == link_hash(
            previous, candidate.topic, session_id, position, candidate.payload
        ):
            return (
                f"order changed: the event that belongs at version {position} "
                f"is stored at version {other.originator_version}"
            )
    if position < len(records):
        recomputed = link_hash(previous, link.topic, session_id, position, link.payload)
        following = _parse(records[position])
        if not isinstance(following, str) and following.stored_hash == link_hash(
            recomputed, following.topic, session_id, position + 1, following.payload
        ):
            return "hash changed: the stored hash is not the hash of this event's content"
    return "content changed: the stored topic or payload does not match its hash"


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
        raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
    return _export_one(session_id, records, progress)


def _export_all(store: SessionStore, ids: list[str], progress: Progress | None) -> Iterator[str]:
    _report(progress, 0, len(ids))
    for done, sid in enumerate(ids, start=1):
        for record in store.read_records(sid):
            yield export_line(sid, record)
        _report(progress, done, len(ids))


def _export_one(
    session_id: str, records: list[StoredEvent], progress: Progress | None
) -> Iterator[str]:
    _report(progress, 0, 1)
    for record in records:
        yield export_line(session_id, record)
    _report(progress, 1, 1)


def export_line(session_id: str, record: StoredEvent) -> str:
    """One stored record as a JSON line; LogIntegrityError if its payload is not JSON."""
    try:
        payload = json.loads(record.state)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        problem = "unreadable: the stored payload is not a JSON object"
        raise LogIntegrityError(
            f"session {session_id!r} cannot be exported at version "
            f"{record.originator_version}: {problem}",
            session_id=session_id,
            version=record.originator_version,
            problem=problem,
        )
    line = {
        "session_id": session_id,
        "version": record.originator_version,
        "topic": record.topic,
        "payload": payload,
    }
    return encode_json(line).decode("utf-8")


# -- import ----------------------------------------------------------------------


class _Stream(NamedTuple):
    """One session's records from an import, with the line each came from."""

    records: list[StoredEvent]
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


def _parse_line(line: str, number: int) -> tuple[str, StoredEvent]:
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
    return session_id, StoredEvent(session_id, version, topic, state)


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
