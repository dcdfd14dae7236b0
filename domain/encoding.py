"""How an event becomes bytes, and the hash that chains each event to the one before.

The payload of an event is its JSON form without ``session_id`` and
``version`` (kept as columns by the stores) and without ``hash``:
``schema_version`` first, then the fields in the order the event class
declares them, with dict keys inside values in the order the caller gave.
A field equal to its default is left out (a reader fills it in), and a value
the event's ``refs`` name is stored as ``null`` (see :mod:`kern.domain.refs`).
It is encoded as compact UTF-8 JSON (no spaces, no NaN). The stored bytes
are that payload with ``hash`` added as its last key. (Kern before schema
version 2 of StepCompleted wrote every field; such payloads read the same.)

The hash of an event is the SHA-256, in hex, of these parts joined by a
newline: the previous event's hash ("" for version 1), the topic, the
session_id, the version, and the encoded payload. Changing any stored byte
that means something, reordering events or removing one breaks the chain
from that version on.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import TypeAdapter

from kern.domain.events import EVENT_CLASSES, SessionEvent
from kern.domain.refs import blank
from kern.domain.sealing import DataKey, seal_payload

E = TypeVar("E", bound=SessionEvent)

GENESIS_HASH = ""
_NOT_IN_PAYLOAD = ("session_id", "version", "hash")
_KEPT_PAYLOAD = "_kern_payload"

# Built at import: an adapter built later, while freezegun patches the module's
# ``datetime`` name, would resolve the ``timestamp`` hint to FakeDatetime and fail.
_ADAPTERS: dict[type[SessionEvent], TypeAdapter[Any]] = {
    cls: TypeAdapter(cls) for cls in EVENT_CLASSES
}


def adapter(cls: type[SessionEvent]) -> TypeAdapter[Any]:
    """The pydantic adapter that dumps and validates events of ``cls``."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, keys in their given order: the bytes Kern stores and hashes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def event_payload(event: SessionEvent) -> dict[str, Any]:
    """Every field of the event in JSON form, values in full (for display):
    no stream columns, no hash."""
    fields: dict[str, Any] = adapter(type(event)).dump_python(event, mode="json")
    payload = {"schema_version": type(event).schema_version}
    payload.update((k, v) for k, v in fields.items() if k not in _NOT_IN_PAYLOAD)
    return payload


def stored_payload(event: SessionEvent) -> dict[str, Any]:
    """The payload as stored and hashed: fields equal to their defaults left out,
    referenced values as ``null``."""
    fields: dict[str, Any] = adapter(type(event)).dump_python(
        event, mode="json", exclude_defaults=True
    )
    refs = getattr(event, "refs", None)
    if refs:
        blank(fields, refs)
    payload = {"schema_version": type(event).schema_version}
    payload.update((k, v) for k, v in fields.items() if k not in _NOT_IN_PAYLOAD)
    return payload


def link_hash(previous: str, topic: str, session_id: str, version: int, payload: bytes) -> str:
    """The chained hash of one event from its parts (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (previous, topic, session_id, str(version)):
        digest.update(part.encode("utf-8"))
        digest.update(b"\n")
    digest.update(payload)
    return digest.hexdigest()


def payload_bytes(event: SessionEvent) -> bytes:
    """``encode_json(stored_payload(event))``, from the copy :func:`seal` kept if any."""
    kept: bytes | None = event.__dict__.get(_KEPT_PAYLOAD)
    return kept if kept is not None else encode_json(stored_payload(event))


def event_hash(previous: str, event: SessionEvent) -> str:
    """The hash ``event`` must carry when the event before it has hash ``previous``."""
    return link_hash(previous, event.topic(), event.session_id, event.version, payload_bytes(event))


def seal(unsealed: E, previous: str, key: DataKey | None = None) -> E:
    """``unsealed``, a new event nothing else holds yet, given its chained hash in
    place. It keeps its encoded payload until :func:`stored_bytes` takes it, so
    an event is encoded once, not twice. With ``key``, its private values are
    encrypted first (:mod:`kern.domain.sealing`), and the hash covers the
    ciphertext."""
    fields = stored_payload(unsealed)
    if key is not None:
        fields = seal_payload(fields, type(unsealed), unsealed, key)
    payload = encode_json(fields)
    hashed = link_hash(previous, unsealed.topic(), unsealed.session_id, unsealed.version, payload)
    # Frozen for everyone else; copying every field again only to set one cost
    # a tenth of recording an event.
    object.__setattr__(unsealed, "hash", hashed)
    object.__setattr__(unsealed, _KEPT_PAYLOAD, payload)  # not a field: eq and repr ignore it
    return unsealed


def stored_bytes(event: SessionEvent) -> bytes:
    """What a store writes for ``event``: the payload with ``hash`` as its last key.

    The payload kept by :func:`seal` is used and dropped (a cached event then
    holds no second copy of its content)."""
    payload = payload_bytes(event)
    event.__dict__.pop(_KEPT_PAYLOAD, None)
    return payload[:-1] + b',"hash":' + encode_json(event.hash) + b"}"
