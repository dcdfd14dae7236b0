"""Audit: prove a session log was not altered, and move logs between stores.

``verify`` reads a session's records straight from the database, walks its
hash chain with :func:`kern.domain.chain.verify_records`, then compares the
listing row with what the log folds to (owner, version, deleted flag, names,
times): an edited row fails verify like an edited event.

``export`` writes each stored event as one JSON line,
``{"session_id", "version", "topic", "payload"}``, where ``payload`` is the
stored JSON object itself (hash included), so ``encode_json(payload)`` gives
back the stored bytes exactly. ``export_otel`` gives the same sessions' runs
as OpenTelemetry spans instead (:mod:`kern.projections.otel`).

``import_lines`` reads exported lines and checks all of them first: the
session and version come from the line's envelope only, every chain must
verify, and every log must be one Kern could have written
(:mod:`kern.domain.session_log`). Then one ``append_records`` call writes
every session in one transaction: an import is refused whole, never half done.
Import is an admin operation: the sessions keep the owners their logs name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kern.application import erasure, key_lines
from kern.application.keys import Keyring, KeyRow
from kern.application.ports import AppendConflict, SessionStore
from kern.application.timetravel import owned_by
from kern.domain.chain import SessionVerification, VerifyReport, verify_records
from kern.domain.encoding import encode_json
from kern.domain.errors import (
    InvalidInputError,
    LogIntegrityError,
    SessionExistsError,
    SessionNotFoundError,
    UnreadableEventError,
)
from kern.domain.identity import validate_session_id
from kern.domain.records import Record, decode_record
from kern.domain.sealing import without_keys
from kern.domain.session_log import log_problem
from kern.projections.expand import expand_stream
from kern.projections.listing import LISTING_TOPICS, listing_mismatch
from kern.projections.otel import export_request

Progress = Callable[[int, int], None]
"""Called with (done, total) as work advances: sessions for verify and export,
events for import."""


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote: the sessions, in order, and how many events; and the
    sessions it skipped because they were already stored exactly as in the file."""

    sessions: list[str]
    events: int
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sessions": list(self.sessions),
            "events": self.events,
            "skipped": list(self.skipped),
        }


# -- verify ----------------------------------------------------------------------


def verify(
    store: SessionStore,
    session_id: str | None = None,
    progress: Progress | None = None,
    user_id: str | None = None,
) -> VerifyReport:
    """Verify one session (SessionNotFoundError if it has no events) or all of them.

    A session the erasure ledger says was purged verifies as ok with no events
    and the ledger's account in ``purged`` (to an admin: with ``user_id`` it is
    not found, since its owner is gone with its log).

    With ``user_id``, only that user's sessions (the owner the log itself
    names): another user's session_id raises SessionNotFoundError, as if it
    did not exist, and "all" means all of theirs.
    """
    if session_id is not None:
        session_id = validate_session_id(session_id)
        records = store.read_records(session_id)
        if not records and session_id not in store.session_ids():
            purged = erasure.find_purge(store, session_id) if user_id is None else None
            if purged is None:
                raise SessionNotFoundError.of(session_id)
            note = erasure.purged_note(purged)
            return VerifyReport([SessionVerification(session_id, True, 0, purged=note)])
        if not _visible(store, session_id, records, user_id):
            raise SessionNotFoundError.of(session_id)
        ids, preread = [session_id], {session_id: records}
    else:
        ids, preread = store.session_ids(), {}
    results = []
    _report(progress, 0, len(ids))
    for done, sid in enumerate(ids, start=1):
        records = preread[sid] if sid in preread else store.read_records(sid)
        if sid in preread or _visible(store, sid, records, user_id):
            results.append(verify_session(store, sid, records))
        _report(progress, done, len(ids))
    return VerifyReport(results)


def verify_session(
    store: SessionStore, session_id: str, records: list[Record]
) -> SessionVerification:
    """The chain of ``records`` (the session's log as stored), then its listing row
    against what the log folds to (owner, version, deleted flag, names, times)."""
    row = store.listing_row(session_id)
    result = verify_records(session_id, records, row.version if row is not None else None)
    if not result.ok:
        return result
    # The chain held, so every record decodes; the row needs only these events.
    # With the store's keys where it has them: a name sealed under a destroyed key
    # (or read without keys) is not compared with the listing (see listing_mismatch).
    events = [
        decode_record(r, store.key_lookup or without_keys)
        for position, r in enumerate(records)
        if position == 0 or position == len(records) - 1 or r.topic in LISTING_TOPICS
    ]
    mismatch = listing_mismatch(row, events)
    if mismatch is None:
        return result
    return SessionVerification(session_id, False, len(records), *mismatch)


def _visible(
    store: SessionStore, session_id: str, records: list[Record], user_id: str | None
) -> bool:
    """Whether ``user_id`` may read the session: its owner is the user_id of the
    log's SessionStarted, or, when that cannot be read, of its listing row."""
    if user_id is None:
        return True
    owner: str | None
    try:
        owner = decode_record(records[0], without_keys).user_id
    except (IndexError, UnreadableEventError):
        row = store.listing_row(session_id)
        owner = row.user_id if row is not None else None
    return owner == user_id


# -- export ----------------------------------------------------------------------


def export(
    store: SessionStore,
    session_id: str | None = None,
    progress: Progress | None = None,
    user_id: str | None = None,
    *,
    keys: bool = False,
) -> Iterator[str]:
    """JSON lines (no newline at the end) for one session or all, oldest first;
    with ``keys``, each sealed session's data keys first, still wrapped (see
    :mod:`kern.application.key_lines`).

    An unknown ``session_id`` (or, with ``user_id``, another user's) raises
    SessionNotFoundError at once, not when the lines are first read.
    """
    if session_id is None:
        ids = store.session_ids()
        if user_id is not None:
            ids = [sid for sid in ids if owned_by(store, sid, user_id)]
        return _export_all(store, ids, progress, keys)
    session_id = validate_session_id(session_id)
    records = store.read_records(session_id)
    if not records or not owned_by(store, session_id, user_id):
        raise SessionNotFoundError.of(session_id)
    return _export_one(store, session_id, records, progress, keys)


def _export_all(
    store: SessionStore, ids: list[str], progress: Progress | None, keys: bool
) -> Iterator[str]:
    _report(progress, 0, len(ids))
    for done, sid in enumerate(ids, start=1):
        yield from _session_lines(store, sid, store.read_records(sid), keys)
        _report(progress, done, len(ids))


def _export_one(
    store: SessionStore,
    session_id: str,
    records: list[Record],
    progress: Progress | None,
    keys: bool,
) -> Iterator[str]:
    _report(progress, 0, 1)
    yield from _session_lines(store, session_id, records, keys)
    _report(progress, 1, 1)


def _session_lines(
    store: SessionStore, session_id: str, records: list[Record], keys: bool
) -> Iterator[str]:
    if keys:
        line = key_lines.key_line(store, session_id, records)
        if line is not None:
            yield line
    for record in records:
        yield export_line(session_id, record)


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


def export_otel(
    store: SessionStore,
    session_id: str | None,
    user_id: str | None,
    *,
    include_content: bool,
    kern_version: str,
) -> dict[str, Any]:
    """One session's runs (or every session's, as :func:`export` chooses them) as
    an OTLP/JSON ExportTraceServiceRequest (see :mod:`kern.projections.otel`)."""
    if session_id is None:
        ids = [sid for sid in store.session_ids() if owned_by(store, sid, user_id)]
    else:
        ids = [validate_session_id(session_id)]
        if not owned_by(store, ids[0], user_id):
            raise SessionNotFoundError.of(ids[0])
    return export_request(
        ((sid, store.read(sid)) for sid in ids),
        include_content=include_content,
        kern_version=kern_version,
    )


# -- import ----------------------------------------------------------------------


class _Stream(NamedTuple):
    """One session's records from an import, with the line each came from."""

    records: list[Record]
    line_numbers: list[int]
    keys: list[KeyRow]
    """The data keys its ``data_keys`` line carried."""
    erased_keys: list[str]
    """The ids of keys its ``data_keys`` line says were destroyed."""

    def line_of(self, version: int) -> int:
        """The line that held ``version`` (the last line for a version past the end)."""
        return self.line_numbers[min(max(version, 1), len(self.line_numbers)) - 1]


ENVELOPE = ("session_id", "version")
"""The keys that belong to a line's envelope, never to its payload: Kern stores
them as columns, so an event's stored payload never holds them."""


def import_lines(
    store: SessionStore,
    lines: Iterable[str],
    progress: Progress | None = None,
    *,
    skip_existing: bool = False,
    keyring: Keyring | None = None,
) -> ImportReport:
    """Import exported lines: all of them in one transaction, or nothing.

    Every line and every session is checked before anything is written (see
    the module doc). With ``skip_existing``, a session already stored with
    exactly the same records is skipped and reported as such; a different
    stored session with the same id is still refused (SessionExistsError).
    Sealed sessions need their data keys in the lines (``keyring``: the one
    they are wrapped by, when it is not the store's; see
    :mod:`kern.application.key_lines`).
    """
    streams = _read_streams(lines)
    for session_id, stream in streams.items():
        _check_session(session_id, stream)
    skipped = [
        sid for sid, stream in streams.items() if _stored_same(store, sid, stream, skip_existing)
    ]
    todo = {sid: stream for sid, stream in streams.items() if sid not in skipped}
    total = sum(len(s.records) for s in todo.values())
    _report(progress, 0, total)
    records = [record for stream in todo.values() for record in stream.records]
    keys, erased = key_lines.import_keys(
        store, {sid: (s.records, s.keys, s.erased_keys) for sid, s in todo.items()}, keyring
    )
    if erased is not None:
        # True whether or not the import lands: recorded first, so the imported
        # values under those keys read as erased from the moment they are there.
        store.record_erasure(erased)
    try:
        store.append_records(records, keys)
    except AppendConflict:
        # Either another writer created one of these sessions meanwhile (nothing
        # of this import was written), or this append committed and its
        # acknowledgement was lost: then every session reads back as appended.
        taken = _taken(store, todo)
        if taken is not None:
            raise _exists(taken) from None
    _report(progress, total, total)
    return ImportReport(list(todo), total, skipped)


def _taken(store: SessionStore, streams: dict[str, _Stream]) -> str | None:
    """After a conflict: None when every session reads back exactly as appended
    (the append committed), else the session another writer took (the first
    stored otherwise, or failing that the first stored at all)."""
    found = {sid: store.read_records(sid) for sid in streams}
    if all(found[sid] == stream.records for sid, stream in streams.items()):
        return None
    differing = [sid for sid in streams if found[sid] and found[sid] != streams[sid].records]
    return (differing or [sid for sid in streams if found[sid]] or list(streams))[0]


def _stored_same(store: SessionStore, session_id: str, stream: _Stream, skip: bool) -> bool:
    """Whether the session is stored already with the same records (and may be
    skipped); SessionExistsError when it is stored otherwise, or ``skip`` is off."""
    stored = store.read_records(session_id)
    if not stored:
        return False
    if skip and stored == stream.records:
        return True
    raise _exists(session_id, differs=skip)


def _read_streams(lines: Iterable[str]) -> dict[str, _Stream]:
    """Parse every line, grouped by session; each session's lines must be together."""
    streams: dict[str, _Stream] = {}
    current: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        session_id, found = _parse_line(line, number)
        if session_id != current and session_id in streams:
            raise InvalidInputError(
                f"line {number}: session {session_id!r} continues after other sessions' "
                "lines; each session's lines must be together"
            )
        current = session_id
        stream = streams.setdefault(session_id, _Stream([], [], [], []))
        if isinstance(found, Record):
            stream.records.append(found)
            stream.line_numbers.append(number)
        else:
            stream.keys.extend(found[0])
            stream.erased_keys.extend(found[1])
    return streams


def _parse_line(line: str, number: int) -> tuple[str, Record | tuple[list[KeyRow], list[str]]]:
    """The session and the stored record (or the data keys) one exported line holds."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InvalidInputError(f"line {number}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"line {number}: expected a JSON object")
    session_id, version = data.get("session_id"), data.get("version")
    topic, payload = data.get("topic"), data.get("payload")
    try:
        session_id = validate_session_id(session_id)
    except InvalidInputError as exc:
        raise InvalidInputError(f"line {number}: {exc}") from None
    if "data_keys" in data and version is None:
        return session_id, key_lines.parse_key_line(data, session_id, number)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInputError(f"line {number}: version must be a positive integer")
    if not isinstance(topic, str) or not isinstance(payload, dict):
        raise InvalidInputError(f"line {number}: topic must be a string and payload an object")
    squatted = [key for key in ENVELOPE if key in payload]
    if squatted:
        raise InvalidInputError(
            f"line {number}: the payload holds {', '.join(map(repr, squatted))}, which only "
            "the line's envelope may give; Kern never stores them in a payload"
        )
    try:
        state = encode_json(payload)
    except ValueError as exc:
        raise InvalidInputError(f"line {number}: payload cannot be stored ({exc})") from None
    return session_id, Record(session_id, version, topic, state)


def _check_session(session_id: str, stream: _Stream) -> None:
    """LogIntegrityError naming the first bad version (and its line) of ``stream``:
    its hash chain must verify, every event decode as the line's session and
    version, and the whole log be one Kern could have written."""
    result = verify_records(session_id, stream.records)
    if not result.ok:
        assert result.first_bad_version is not None and result.problem is not None
        raise _integrity(session_id, stream, result.first_bad_version, result.problem)
    events = []
    for record in stream.records:
        try:
            event = decode_record(record, without_keys)
        except UnreadableEventError as exc:
            raise _integrity(session_id, stream, record.version, f"unreadable: {exc}") from None
        if (event.session_id, event.version) != (record.session_id, record.version):
            problem = "the event does not read as its line's session and version"
            raise _integrity(session_id, stream, record.version, problem)
        events.append(event)
    found = log_problem(events)
    if found is not None:
        raise _integrity(
            session_id, stream, found.version, f"not a Kern session log: {found.problem}"
        )
    try:
        # Every value stored as a reference must resolve to what the log holds.
        expand_stream(events)
    except UnreadableEventError as exc:
        raise _integrity(session_id, stream, exc.version, f"unreadable: {exc}") from None


def _integrity(session_id: str, stream: _Stream, version: int, problem: str) -> LogIntegrityError:
    return LogIntegrityError(
        f"session {session_id!r} does not verify at version {version} "
        f"(line {stream.line_of(version)}): {problem}",
        session_id=session_id,
        version=version,
        problem=problem,
    )


def _exists(session_id: str, *, differs: bool = False) -> SessionExistsError:
    what = "already exists with other events" if differs else "already exists"
    return SessionExistsError(
        f"session {session_id!r} {what}; an import never overwrites a session",
        session_id=session_id,
    )


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
