"""Kern's records as eventsourcing ``StoredEvent`` rows, and back.

``session_id`` and ``version`` are the ``originator_id`` and
``originator_version`` columns; the topic and the state bytes are kept as
they are (see :mod:`kern.domain.records` and :mod:`kern.domain.encoding`).
"""

from __future__ import annotations

from eventsourcing.persistence import StoredEvent

from kern.domain.events import SessionEvent
from kern.domain.records import Record, decode_record, encode_record


def to_stored(event: SessionEvent) -> StoredEvent:
    """The row a store writes for ``event``."""
    return stored_event(encode_record(event))


def stored_event(record: Record) -> StoredEvent:
    """The row a store writes for ``record``."""
    return StoredEvent(
        originator_id=record.session_id,
        originator_version=record.version,
        topic=record.topic,
        state=record.state,
    )


def to_record(row: StoredEvent) -> Record:
    """The record a row holds (a hand-edited SQLite row can hold text: it is encoded)."""
    state: bytes | bytearray | memoryview | str = row.state
    data = state.encode("utf-8", "surrogatepass") if isinstance(state, str) else bytes(state)
    return Record(str(row.originator_id), row.originator_version, row.topic, data)


def from_stored(row: StoredEvent) -> SessionEvent:
    """The event a row holds; UnreadableEventError, naming the session and version,
    if it cannot be read."""
    return decode_record(to_record(row))
