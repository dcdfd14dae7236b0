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
from typing import Any

from eventsourcing.persistence import StoredEvent
from pydantic import ValidationError

from kern.domain.encoding import adapter, encode_json, event_payload, stored_bytes
from kern.domain.errors import StoreError
from kern.domain.events import SessionEvent, event_class

__all__ = [
    "encode_json",
    "event_payload",
    "from_stored",
    "state_bytes",
    "stored_payload",
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


def stored_payload(event: SessionEvent) -> dict[str, Any]:
    """What the ``state`` column holds: the payload with ``hash`` as its last key."""
    return {**event_payload(event), "hash": event.hash}


def state_bytes(record: StoredEvent) -> bytes:
    """The record's state as bytes (a hand-edited SQLite row can hold text)."""
    state: bytes | bytearray | memoryview | str = record.state
    return state.encode("utf-8", "surrogatepass") if isinstance(state, str) else bytes(state)


def from_stored(record: StoredEvent) -> SessionEvent:
    """The domain event a stored record holds; StoreError if it cannot be read."""
    try:
        cls = event_class(record.topic)
    except KeyError:
        raise StoreError(
            f"unknown event topic {record.topic!r} at version "
            f"{record.originator_version} of session {str(record.originator_id)!r}"
        ) from None
    state = state_bytes(record)
    try:
        if not state.startswith(b"{"):
            raise ValueError("the stored state is not a JSON object")
        # The columns join the payload as its first keys, and pydantic parses the
        # bytes straight into the event: no intermediate dicts, one copy of each
        # string. (``schema_version`` is not a field and is ignored.)
        head = b'{"session_id":%b,"version":%d%b' % (
            json.dumps(str(record.originator_id)).encode(),
            record.originator_version,
            b"" if state[1:2] == b"}" else b",",
        )
        event: SessionEvent = adapter(cls).validate_json(head + state[1:])
    except (ValueError, ValidationError) as exc:
        raise StoreError(
            f"event at version {record.originator_version} of session "
            f"{str(record.originator_id)!r} cannot be read: {exc}"
        ) from exc
    return event
