"""Anchors: each session's head (version and hash) as it stood at a moment, kept
outside the database, and how a log is compared with it.

The hash chain proves a log is consistent with itself; whoever can rewrite the
database can also recompute every later hash. An anchor records where each
chain ended when it was taken: a later log that no longer reaches that head
(shorter, a different hash at the anchored version, or gone) was changed.

One anchor set is one JSON document, ``{"format", "anchored_at", "heads",
"signature"}``; what is signed is :func:`signed_bytes`, the canonical JSON of
everything but the signature. Pure: the signing itself lives in
:mod:`kern.application.anchors`, the file in an adapter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kern.domain.encoding import encode_json
from kern.domain.errors import AnchorFileError
from kern.domain.records import Record

FORMAT = "kern-anchors/1"
"""The document's ``format`` field: what the signature covers and how it reads."""


@dataclass(frozen=True)
class Head:
    """Where one session's log ended: its last version and that event's stored hash."""

    session_id: str
    version: int
    hash: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (the order is part of the signed bytes)."""
        return {"session_id": self.session_id, "version": self.version, "hash": self.hash}


@dataclass(frozen=True)
class AnchorSet:
    """The heads of every session at ``anchored_at`` (ISO 8601, UTC)."""

    anchored_at: str
    heads: tuple[Head, ...]

    def head(self, session_id: str) -> Head | None:
        """The anchored head of ``session_id``, if it was anchored."""
        return next((h for h in self.heads if h.session_id == session_id), None)


@dataclass(frozen=True)
class SignedAnchors:
    """An anchor set and the Ed25519 signature of its :func:`signed_bytes`."""

    anchors: AnchorSet
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        """The anchor document: format, time, heads, then the base64 signature."""
        document = _unsigned(self.anchors)
        document["signature"] = base64.b64encode(self.signature).decode("ascii")
        return document


def signed_bytes(anchors: AnchorSet) -> bytes:
    """The canonical bytes a signature covers: compact JSON, keys in a fixed order."""
    return encode_json(_unsigned(anchors))


def _unsigned(anchors: AnchorSet) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "anchored_at": anchors.anchored_at,
        "heads": [h.to_json() for h in anchors.heads],
    }


def head_of(record: Record) -> Head:
    """The head a session's last stored record makes (its stored hash as written)."""
    return Head(record.session_id, record.version, stored_hash(record) or "")


def stored_hash(record: Record) -> str | None:
    """The hash stored in a record's payload (None when the payload has none)."""
    try:
        data = json.loads(record.state)
    except ValueError:
        return None
    found = data.get("hash") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def head_problem(head: Head, records: Sequence[Record]) -> str | None:
    """Why ``records`` (one session's, as stored) no longer reach ``head``; None if
    they do. Events after the head are fine: the log grew since the anchor."""
    if not records:
        return f"missing: the session is gone; it was anchored at version {head.version}"
    at = next((r for r in records if r.version == head.version), None)
    if at is None or len(records) < head.version:
        return (
            f"truncated: the log ends at version {len(records)}, "
            f"shorter than the anchored version {head.version}"
        )
    if stored_hash(at) != head.hash:
        return (
            f"rewritten: the hash at version {head.version} is not the anchored one "
            "(the log was changed and its hashes recomputed)"
        )
    return None


def parse_document(document: Any) -> tuple[AnchorSet, bytes]:
    """The anchor set and signature an anchor document holds; AnchorFileError if
    it is not one. The signature is not checked here."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise AnchorFileError(f"not a Kern anchor document (expected format {FORMAT!r})")
    anchored_at, heads, signature = (
        document.get("anchored_at"),
        document.get("heads"),
        document.get("signature"),
    )
    if not isinstance(anchored_at, str) or not isinstance(heads, list):
        raise AnchorFileError("an anchor document needs anchored_at (text) and heads (a list)")
    if not isinstance(signature, str):
        raise AnchorFileError("the anchor document has no signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise AnchorFileError("the anchor document's signature is not base64") from None
    return AnchorSet(anchored_at, tuple(_parse_head(h) for h in heads)), raw


def _parse_head(data: Any) -> Head:
    if not isinstance(data, dict):
        raise AnchorFileError("each anchored head must be a JSON object")
    session_id, version, hash_ = data.get("session_id"), data.get("version"), data.get("hash")
    if (
        not isinstance(session_id, str)
        or not isinstance(version, int)
        or isinstance(version, bool)
        or version < 1
        or not isinstance(hash_, str)
    ):
        raise AnchorFileError(
            "each anchored head needs session_id (text), version (>= 1) and hash (text)"
        )
    return Head(session_id, version, hash_)
