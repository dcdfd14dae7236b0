"""Sealed payloads: the values a person supplied or a step produced, encrypted with
their data subject's key before the event is hashed.

An event of a store with a keyring is stored with its private fields (the ones
:data:`PRIVATE_FIELDS` names for its class) taken out of the payload and put,
as one JSON object, into AES-256-GCM ciphertext under the key of the
session's data subject (its user; the session itself when it has none)::

    {"schema_version":3,"run_id":"...","step_index":0,...,
     "sealed":{"key":"<key id>","fields":["input","content"],"data":"<base64>"},
     "hash":"..."}

Ids, versions, timestamps, event types, statuses, step names and metrics stay
clear, so listing, ordering and verifying need no key. The hash of the event
is computed over these stored bytes (the ciphertext), so the chain verifies
after the key is destroyed. The ciphertext is bound to its place (session,
version, event type) as associated data: moved to another event, it does not
decrypt.

Once a subject's key is destroyed (an erasure), each private field reads
back as a fixed marker (:data:`ERASED` for text and values, empty for state
and its changes). The field names in ``fields`` say which ones were there.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kern.domain.events import (
    RunCompleted,
    RunResumed,
    RunStarted,
    SessionEvent,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepAttemptFailed,
    StepCompleted,
)

ERASED = "[erased]"
"""What an erased text or value reads back as."""

SEALED = "sealed"
"""The payload key of the sealed part."""

KEY_BYTES = 32
"""AES-256."""

NONCE_BYTES = 12

PRIVATE_FIELDS: dict[type[SessionEvent], tuple[str, ...]] = {
    SessionStarted: ("workflow_data", "metadata", "session_state"),
    RunStarted: ("input", "session_state"),
    StepCompleted: ("input", "content", "error", "executor_run", "state_changes", "traceback"),
    StepAttemptFailed: ("error", "traceback"),
    RunCompleted: ("content", "error", "state_changes", "traceback"),
    SessionRenamed: ("session_name",),
    SessionStateUpdated: ("changes",),
    RunResumed: (),  # ids and counts only: nothing a person supplied or a step produced
}
"""The fields of each event class that hold what a person supplied or a step produced."""

_ERASED_VALUE = {"type": "str", "value": ERASED}
_MARKERS: dict[str, Any] = {
    "workflow_data": None,
    "metadata": None,
    "session_state": {},
    "input": _ERASED_VALUE,
    "content": _ERASED_VALUE,
    "error": ERASED,
    "executor_run": None,
    "state_changes": {},
    "traceback": ERASED,
    "session_name": ERASED,
    "changes": {},
}
"""What each private field reads back as once its key is destroyed."""


@dataclass(frozen=True)
class DataKey:
    """One data subject's key: its id (stored beside the ciphertext) and 32 secret bytes."""

    key_id: str
    secret: bytes = field(repr=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes, got {len(self.secret)}")
        object.__setattr__(self, "_aead", AESGCM(self.secret))

    @classmethod
    def new(cls, key_id: str) -> DataKey:
        """A fresh random key."""
        return cls(key_id, AESGCM.generate_key(bit_length=8 * KEY_BYTES))

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """Nonce and ciphertext, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext; ValueError if the bytes were changed, moved or the key is wrong."""
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
        except InvalidTag:
            raise ValueError(
                "its sealed values do not decrypt with their key: changed, moved from "
                "another event, or the wrong key"
            ) from None


KeyLookup = Callable[[str], "DataKey | None"]
"""A key by its id; None when it was destroyed (an erasure). Raises when unknown."""


def _context(session_id: str, version: int, topic: str) -> bytes:
    return f"{session_id}\n{version}\n{topic}".encode()


def seal_payload(
    payload: dict[str, Any], cls: type[SessionEvent], event: SessionEvent, key: DataKey
) -> dict[str, Any]:
    """``payload`` (an event's stored form) with its private fields sealed under ``key``."""
    private = [name for name in PRIVATE_FIELDS.get(cls, ()) if name in payload]
    if not private:
        return payload
    values = {name: payload.pop(name) for name in private}
    plaintext = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = key.encrypt(plaintext, _context(event.session_id, event.version, cls.topic()))
    payload[SEALED] = {
        "key": key.key_id,
        "fields": private,
        "data": base64.b64encode(sealed).decode("ascii"),
    }
    return payload


def is_sealed(state: bytes) -> bool:
    """Whether stored bytes hold a sealed part (a JSON string cannot hold these bytes:
    its quotes are escaped)."""
    return b',"sealed":{"key":' in state


def open_payload(
    data: dict[str, Any], cls: type[SessionEvent], session_id: str, version: int, keys: KeyLookup
) -> dict[str, Any]:
    """``data`` with its sealed part opened: the private values back in place, or
    their markers when the key was destroyed. ValueError when it cannot be."""
    sealed = data.pop(SEALED, None)
    if sealed is None:
        return data
    if not isinstance(sealed, dict) or not isinstance(sealed.get("key"), str):
        raise ValueError("its sealed part is malformed")
    names = sealed.get("fields")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("its sealed part names no fields")
    key = keys(sealed["key"])
    if key is None:
        data.update((name, _MARKERS.get(name, ERASED)) for name in names)
        data.pop("refs", None)  # they pointed into values that are gone
        return data
    try:
        raw = base64.b64decode(str(sealed.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("its sealed data is not base64") from None
    values = json.loads(key.decrypt(raw, _context(session_id, version, cls.topic())))
    if not isinstance(values, dict) or sorted(values) != sorted(names):
        raise ValueError("its sealed values are not the fields it names")
    data.update(values)
    return data


_OPENING = b',"sealed":'
_HASH = b',"hash":'


def sealed_key_id(state: bytes) -> str | None:
    """The id of the key that sealed these stored bytes (None when nothing is sealed)."""
    if not is_sealed(state):
        return None
    start = state.find(_OPENING + b'{"key":') + len(_OPENING)
    sealed = json.loads(state[start : state.rfind(_HASH)])
    key_id = sealed.get("key") if isinstance(sealed, dict) else None
    return key_id if isinstance(key_id, str) else None


def open_state(
    state: bytes, cls: type[SessionEvent], session_id: str, version: int, keys: KeyLookup
) -> bytes | None:
    """Stored bytes with the sealed part replaced, in place, by the values it holds:
    the event's plain stored form, to parse as any other. None when the key was
    destroyed (the markers are put in by :func:`open_payload`). ValueError when
    it cannot be opened."""
    start = state.find(_OPENING + b'{"key":')
    end = state.rfind(_HASH)
    if start < 0 or end < start:
        raise ValueError("its sealed part is malformed")
    # The sealed part as seal_payload writes it is read in place; anything else
    # (the same JSON spelled otherwise) is parsed as JSON. Parsing every sealed
    # part as JSON cost a third of opening it.
    head = start + len(_KEY_AT)
    quote = state.find(b'"', head, end)
    data_at = state.find(_DATA_AT, quote, end)
    if (
        state.startswith(_KEY_AT, start)
        and quote > head
        and data_at > 0
        and state.startswith(_DATA_END, end - len(_DATA_END))
    ):
        key_id = state[head:quote].decode("ascii")
        data = state[data_at + len(_DATA_AT) : end - len(_DATA_END)]
    else:
        sealed = json.loads(state[start + len(_OPENING) : end])
        if not isinstance(sealed, dict) or not isinstance(sealed.get("key"), str):
            raise ValueError("its sealed part is malformed")
        if not isinstance(sealed.get("fields"), list):
            raise ValueError("its sealed values are not the fields it names")
        key_id, data = sealed["key"], str(sealed.get("data", "")).encode("ascii", "replace")
    key = keys(key_id)
    if key is None:
        return None
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        raise ValueError("its sealed data is not base64") from None
    plaintext = key.decrypt(raw, _context(session_id, version, cls.topic()))
    if not plaintext.startswith(b'{"'):
        raise ValueError("its sealed values are not the fields it names")
    return b"".join((state[:start], b",", plaintext[1:-1], state[end:]))


_KEY_AT = b',"sealed":{"key":"'
_DATA_AT = b',"data":"'
_DATA_END = b'"}'
"""How the sealed part :func:`seal_payload` writes starts, where its data starts
and how it ends (base64 holds no quote: a quote inside the data fails decoding)."""


def without_keys(key_id: str) -> None:
    """A lookup that opens nothing: every sealed value reads as its marker (for
    checks, such as verify, that need the structure and never the values)."""
    return None


_BLOB = b"kern-sealed-1\n"
"""How a sealed blob (derived data: a read-model segment) starts; the key's id and
a newline follow, then the nonce and ciphertext."""


def seal_blob(key: DataKey, data: bytes, context: str) -> bytes:
    """``data`` encrypted under ``key``, bound to ``context`` (what it is, and where)."""
    return _BLOB + key.key_id.encode("ascii") + b"\n" + key.encrypt(data, context.encode())


def open_blob(blob: bytes, keys: KeyLookup, context: str) -> bytes | None:
    """What :func:`seal_blob` sealed; None when its key was destroyed. ValueError
    when it is not a sealed blob, or was changed or moved (another ``context``)."""
    if not blob.startswith(_BLOB):
        raise ValueError("not a sealed blob")
    end = blob.find(b"\n", len(_BLOB))
    if end < 0:
        raise ValueError("a sealed blob names no key")
    key = keys(blob[len(_BLOB) : end].decode("ascii", "replace"))
    if key is None:
        return None
    return key.decrypt(blob[end + 1 :], context.encode())
