"""The erasure ledger's entries: what was forgotten, when, why and at whose request.

An entry holds no personal data: its ``subject`` is an id (a session id for a
purge; ids stay clear by Kern's policy), its ``detail`` the ids, versions and
hashes that show what was removed, and ``reason`` and ``requested_by`` are
what the operator gave (a ticket number, a role), which must name nobody.
Pure: the store keeps entries, :mod:`kern.application.erasure` makes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kern.domain.encoding import encode_json
from kern.domain.errors import InvalidInputError

PURGE = "purge"
"""The kind of an entry that records a purge: a session's events deleted."""

MAX_REASON = 500
"""The longest ``reason`` an entry keeps, in characters."""
MAX_REQUESTED_BY = 200
"""The longest ``requested_by`` an entry keeps, in characters."""


@dataclass(frozen=True)
class ErasureEntry:
    """One row of the erasure ledger."""

    erasure_id: str
    erased_at: datetime
    """When the erasure committed (UTC)."""
    kind: str
    """``purge`` (:data:`PURGE`), or another kind of erasure."""
    subject: str
    """What was erased: the session id for a purge."""
    sessions: int
    """How many sessions the erasure touched."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Ids, versions and hashes only; for a purge, ``purged_head_version`` and
    ``purged_head_hash``: the last event the session had."""
    reason: str = ""
    requested_by: str = ""

    @property
    def detail_json(self) -> str:
        """``detail`` as the canonical JSON text the ledger stores."""
        return encode_json(self.detail).decode("utf-8")

    @property
    def erased_at_seconds(self) -> float:
        """``erased_at`` as Unix seconds, as the ledger stores it."""
        return self.erased_at.timestamp()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``erased_at`` in ISO 8601)."""
        return {
            "erasure_id": self.erasure_id,
            "erased_at": self.erased_at.isoformat(),
            "kind": self.kind,
            "subject": self.subject,
            "sessions": self.sessions,
            "detail": dict(self.detail),
            "reason": self.reason,
            "requested_by": self.requested_by,
        }

    def describe(self) -> str:
        """One line for reports: when, which erasure, and why."""
        return (
            f"{self.kind} {self.erasure_id} at {self.erased_at.isoformat(timespec='seconds')}, "
            f"requested by {self.requested_by!r}: {self.reason}"
        )


def entry_from_row(
    erasure_id: str,
    erased_at: float,
    kind: str,
    subject: str,
    sessions: int,
    detail: str,
    reason: str,
    requested_by: str,
) -> ErasureEntry:
    """An entry from a ledger row's columns, as stored."""
    try:
        parsed = json.loads(detail)
    except ValueError:
        parsed = {"unreadable": detail}
    return ErasureEntry(
        erasure_id=erasure_id,
        erased_at=datetime.fromtimestamp(float(erased_at), UTC),
        kind=kind,
        subject=subject,
        sessions=int(sessions),
        detail=parsed if isinstance(parsed, dict) else {"unreadable": detail},
        reason=reason,
        requested_by=requested_by,
    )


def check_text(value: object, *, what: str, longest: int) -> str:
    """``value`` if it is non-blank text of at most ``longest`` characters with no
    control characters, else InvalidInputError naming ``what``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be non-empty text, got {value!r}")
    if len(value) > longest:
        raise InvalidInputError(
            f"{what} is {len(value)} characters long: at most {longest}; keep it short "
            "and free of personal data (a ticket number, a role)"
        )
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise InvalidInputError(f"{what} must be one line of text without control characters")
    return value


def purge_entry(
    *,
    erasure_id: str,
    erased_at: datetime,
    session_id: str,
    head_version: int,
    head_hash: str,
    reason: object,
    requested_by: object,
) -> ErasureEntry:
    """The ledger entry of a purge of ``session_id``, whose last event was
    ``head_version`` with ``head_hash``; InvalidInputError for a bad reason or
    requester."""
    return ErasureEntry(
        erasure_id=erasure_id,
        erased_at=erased_at,
        kind=PURGE,
        subject=session_id,
        sessions=1,
        detail={"purged_head_version": head_version, "purged_head_hash": head_hash},
        reason=check_text(reason, what="reason", longest=MAX_REASON),
        requested_by=check_text(requested_by, what="requested_by", longest=MAX_REQUESTED_BY),
    )


def purge_of(entries: list[ErasureEntry], session_id: str) -> ErasureEntry | None:
    """The latest purge of ``session_id`` in ``entries`` (oldest first), if any."""
    found = [e for e in entries if e.kind == PURGE and e.subject == session_id]
    return found[-1] if found else None
