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
from functools import cache
from typing import Any, NamedTuple

from pydantic import ValidationError

from kern.domain.encoding import adapter, stored_bytes
from kern.domain.errors import UnreadableEventError
from kern.domain.events import RunCompleted, SessionEvent, StepCompleted, event_class
from kern.domain.sealing import KeyLookup, is_sealed, open_payload, open_state

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns an event's payload at one schema_version into the next version's."""

UPCASTERS: dict[tuple[type[SessionEvent], int], Upcaster] = {}
"""(event class, schema_version it reads) -> the upcaster to schema_version + 1."""


def fields_added(data: dict[str, Any]) -> dict[str, Any]:
    """The upcaster of a version that only added fields with defaults: the payload
    reads as it is (a reader knows such versions and parses them directly)."""
    return data


# Version 2 added ``refs`` (see kern.domain.refs); a version 1 event copied every value.
UPCASTERS[(StepCompleted, 1)] = fields_added
UPCASTERS[(RunCompleted, 1)] = fields_added
# Version 3 added ``path`` (a step inside a step primitive); version 2 has only top-level steps.
UPCASTERS[(StepCompleted, 2)] = fields_added


def _direct_prefix(cls: type[SessionEvent], state: bytes) -> bytes | None:
    """The opening of ``state`` if it is a payload of ``cls`` that reads without
    changes: at the current version, or at an older one upcast only by
    :func:`fields_added`; None otherwise."""
    version = cls.schema_version
    while True:
        prefix = _prefix(version)
        if state.startswith(prefix):
            return prefix
        version -= 1
        if UPCASTERS.get((cls, version)) is not fields_added:
            return None


@cache
def _prefix(schema_version: int) -> bytes:
    return b'{"schema_version":%d,' % schema_version


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


def decode_record(record: Record, keys: KeyLookup | None = None) -> SessionEvent:
    """The event ``record`` holds; UnreadableEventError, naming the session and
    version, if it cannot be read. Sealed values are opened with ``keys``
    (:mod:`kern.domain.sealing`); without it they cannot be read."""
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
    try:
        sealed = is_sealed(state)
        if sealed and keys is not None:
            opened = open_state(state, cls, session_id, version, keys)
            if opened is not None:  # None: erased, read below with its markers
                state, sealed = opened, False
        direct = None if sealed else _direct_prefix(cls, state)
        if direct is not None:
            # The usual case. The columns take the place of schema_version as the
            # first keys, and pydantic parses the bytes straight into the event:
            # no intermediate dicts, one copy of each string.
            head = b'{"session_id":%b,"version":%d,' % (json.dumps(session_id).encode(), version)
            event: SessionEvent = adapter(cls).validate_json(head + state[len(direct) :])
            return event
        data = json.loads(state)
        if not isinstance(data, dict):
            raise ValueError(f"the payload is a JSON {type(data).__name__}, not an object")
        if sealed:
            if keys is None:
                raise ValueError(
                    "its values are encrypted, and this store has no keyring: open it with "
                    "the keyring it was written with"
                )
            data = open_payload(data, cls, session_id, version, keys)
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
