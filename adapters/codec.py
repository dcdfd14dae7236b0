"""Turns domain events into eventsourcing ``StoredEvent`` records and back.

The stored state is the event's payload (see :mod:`kern.domain.encoding`:
compact UTF-8 JSON, ``schema_version`` first, fields in declared order, dict
keys in the caller's order) with its chained ``hash`` as the last key;
``session_id`` and ``version`` are the ``originator_id`` and
``originator_version`` columns. The topic is the event class's
``module:QualName``.
"""

from __future__ import annotations

import json

from eventsourcing.persistence import StoredEvent
from pydantic import ValidationError

from kern.domain.encoding import adapter, encode_json, event_payload, stored_bytes
from kern.domain.errors import UnreadableEventError
from kern.domain.events import SessionEvent, event_class

__all__ = [
    "encode_json",
    "event_payload",
    "from_stored",
    "state_bytes",
    "to_stored",
]


def to_stored(event: SessionEvent) -> StoredEvent:
    """The record a store writes for ``event``."""
    return StoredEvent(
        originator_id=event.session_id,
        originator_version=event.version,
        topic=event.topic(),
        state=stored_bytes(event),
    )


def state_bytes(record: StoredEvent) -> bytes:
    """The record's state as bytes (a hand-edited SQLite row can hold text)."""
    state: bytes | bytearray | memoryview | str = record.state
    return state.encode("utf-8", "surrogatepass") if isinstance(state, str) else bytes(state)


def from_stored(record: StoredEvent) -> SessionEvent:
    """The domain event a stored record holds; UnreadableEventError, naming the
    session and version, if it cannot be read."""
    session_id, version = str(record.originator_id), record.originator_version

    def unreadable(reason: str) -> UnreadableEventError:
        return UnreadableEventError(
            f"event at version {version} of session {session_id!r} cannot be read: {reason}",
            session_id=session_id,
            version=version,
        )

    try:
        cls = event_class(record.topic)
    except KeyError:
        raise UnreadableEventError(
            f"unknown event topic {record.topic!r} at version {version} of session "
            f"{session_id!r}: it was written by another Kern",
            session_id=session_id,
            version=version,
        ) from None
    state = state_bytes(record)
    expected = b'{"schema_version":%d,' % cls.schema_version
    try:
        if state.startswith(expected):
            # The usual case. The columns take the place of schema_version as the
            # first keys, and pydantic parses the bytes straight into the event:
            # no intermediate dicts, one copy of each string.
            head = b'{"session_id":%b,"version":%d,' % (json.dumps(session_id).encode(), version)
            event: SessionEvent = adapter(cls).validate_json(head + state[len(expected) :])
            return event
        data = json.loads(state)
        if not isinstance(data, dict):
            raise ValueError(f"the payload is a JSON {type(data).__name__}, not an object")
        schema_version = data.pop("schema_version", 1)
        if schema_version != cls.schema_version:
            raise unreadable(
                f"{cls.__name__} has schema_version {schema_version!r}, and this Kern "
                f"reads version {cls.schema_version}; it was written by another Kern"
            )
        data["session_id"] = session_id
        data["version"] = version
        event = adapter(cls).validate_python(data)
    except (ValueError, ValidationError) as exc:
        raise unreadable(str(exc)) from exc
    return event
