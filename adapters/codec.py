"""Turns domain events into eventsourcing ``StoredEvent`` records and back.

The stored state is compact JSON (UTF-8, no spaces): ``schema_version`` first,
then the event's fields in the order its class declares them, except
``session_id`` and ``version``, which the stores keep as the ``originator_id``
and ``originator_version`` columns. Dict keys inside values keep the caller's
order, so a dict input reads back, and renders in the history, exactly as it
was given. The topic is the event class's ``module:QualName``.
"""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.persistence import StoredEvent
from pydantic import TypeAdapter, ValidationError

from kern.domain.errors import StoreError
from kern.domain.events import EVENT_CLASSES, SessionEvent, event_class

_COLUMNS = ("session_id", "version")


# Built at import: an adapter built later, while freezegun patches the module's
# ``datetime`` name, would resolve the ``timestamp`` hint to FakeDatetime and fail.
_ADAPTERS: dict[type[SessionEvent], TypeAdapter[Any]] = {
    cls: TypeAdapter(cls) for cls in EVENT_CLASSES
}


def _adapter(cls: type[SessionEvent]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def encode_json(payload: Any) -> bytes:
    """The byte encoding Kern stores for a JSON value (keys in their given order)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def event_payload(event: SessionEvent) -> dict[str, Any]:
    """The JSON payload stored for ``event`` (without the stream columns)."""
    fields: dict[str, Any] = _adapter(type(event)).dump_python(event, mode="json")
    data = {"schema_version": type(event).schema_version}
    data.update((k, v) for k, v in fields.items() if k not in _COLUMNS)
    return data


def to_stored(event: SessionEvent) -> StoredEvent:
    """The record a store writes for ``event``."""
    return StoredEvent(
        originator_id=event.session_id,
        originator_version=event.version,
        topic=event.topic(),
        state=encode_json(event_payload(event)),
    )


def from_stored(record: StoredEvent) -> SessionEvent:
    """The domain event a stored record holds; StoreError if it cannot be read."""
    try:
        cls = event_class(record.topic)
    except KeyError:
        raise StoreError(
            f"unknown event topic {record.topic!r} at version "
            f"{record.originator_version} of session {str(record.originator_id)!r}"
        ) from None
    try:
        data = json.loads(record.state)
        data.pop("schema_version", None)
        data["session_id"] = str(record.originator_id)
        data["version"] = record.originator_version
        event: SessionEvent = _adapter(cls).validate_python(data)
    except (ValueError, ValidationError) as exc:
        raise StoreError(
            f"event at version {record.originator_version} of session "
            f"{str(record.originator_id)!r} cannot be read: {exc}"
        ) from exc
    return event
