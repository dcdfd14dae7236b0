"""Events as stored records, and back: the bytes a store keeps and how old ones are read.

A :class:`Record` is one stored event as every store keeps it: the session
and version (the stream's columns), the topic (the event class's
``module:QualName``) and the state bytes (see :mod:`kern.domain.encoding`).

Stored events are a persisted contract. When an event class changes shape it
bumps its ``schema_version`` and registers an *upcaster* for the old version
in :data:`UPCASTERS`: a pure function from the old payload dict to the next
version's. Reading applies them in turn, so a log written by any earlier
Kern reads as today's events. The hash chain covers the stored bytes, so
upcasting on read never touches verification.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import ValidationError

from kern.domain.encoding import adapter, stored_bytes
from kern.domain.errors import UnreadableEventError
from kern.domain.events import SessionEvent, event_class

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns an event's payload at one schema_version into the next version's."""

UPCASTERS: dict[tuple[type[SessionEvent], int], Upcaster] = {}
"""(event class, schema_version it reads) -> the upcaster to schema_version + 1."""


class Record(NamedTuple):
    """One stored event, exactly as a store keeps it."""

    session_id: str
    version: int
    topic: str
    state: bytes


def encode_record(event: SessionEvent) -> Record:
    """The record a store writes for ``event``."""
    return Record(event.session_id, event.version, event.topic(), stored_bytes(event))


def upcast(cls: type[SessionEvent], schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """``data``, written at ``schema_version`` of ``cls``, brought to the current version.

    ValueError when no upcaster covers a step, or the payload is newer than the code."""
    if schema_version > cls.schema_version:
        raise ValueError(
            f"{cls.__name__} has schema_version {schema_version!r}, and this Kern reads "
            f"version {cls.schema_version}; it was written by a newer Kern"
        )
    while schema_version < cls.schema_version:
        step = UPCASTERS.get((cls, schema_version))
        if step is None:
            raise ValueError(
                f"{cls.__name__} has schema_version {schema_version!r} and no upcaster "
                f"reads it (this Kern reads version {cls.schema_version})"
            )
        data = step(data)
        schema_version += 1
    return data


_CLASSES: dict[str, type[SessionEvent]] = {}
"""Event classes by topic, as :func:`event_class` found them (a read looks up every record's)."""


def _event_class(topic: str) -> type[SessionEvent]:
    cls = _CLASSES.get(topic)
    if cls is None:
        cls = _CLASSES[topic] = event_class(topic)
    return cls


def decode_record(record: Record) -> SessionEvent:
    """The event ``record`` holds; UnreadableEventError, naming the session and
    version, if it cannot be read."""
    session_id, version = record.session_id, record.version

    def unreadable(reason: str) -> UnreadableEventError:
        return UnreadableEventError(
            f"event at version {version} of session {session_id!r} cannot be read: {reason}",
            session_id=session_id,
            version=version,
        )

    try:
        cls = _event_class(record.topic)
    except KeyError:
        raise UnreadableEventError(
            f"unknown event topic {record.topic!r} at version {version} of session "
            f"{session_id!r}: it was written by another Kern",
            session_id=session_id,
            version=version,
        ) from None
    state = record.state
    current = b'{"schema_version":%d,' % cls.schema_version
    try:
        if state.startswith(current):
            # The usual case. The columns take the place of schema_version as the
            # first keys, and pydantic parses the bytes straight into the event:
            # no intermediate dicts, one copy of each string.
            head = b'{"session_id":%b,"version":%d,' % (json.dumps(session_id).encode(), version)
            event: SessionEvent = adapter(cls).validate_json(head + state[len(current) :])
            return event
        data = json.loads(state)
        if not isinstance(data, dict):
            raise ValueError(f"the payload is a JSON {type(data).__name__}, not an object")
        schema_version = data.pop("schema_version", 1)
        if not isinstance(schema_version, int) or isinstance(schema_version, bool):
            raise ValueError(f"schema_version must be an integer, got {schema_version!r}")
        data = upcast(cls, schema_version, data)
        data["session_id"] = session_id
        data["version"] = version
        event = adapter(cls).validate_python(data)
    except (ValueError, ValidationError) as exc:
        raise unreadable(str(exc)) from exc
    return event
