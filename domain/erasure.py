"""The erasure ledger's entries: who asked to forget what, when and why, with no
personal data (a user is named by the id of the data key that was destroyed)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kern.domain.errors import InvalidInputError

MAX_TEXT = 1000
"""The longest reason or requester a ledger entry keeps."""


@dataclass(frozen=True)
class ErasureEntry:
    """One erasure: ``kind`` is erase_user, erase_session, retention or purge;
    ``subject`` the destroyed key's id (or the purged session's id); ``sessions``
    how many sessions it made unreadable; ``detail`` what else it says (no
    personal data)."""

    kind: str
    subject: str
    sessions: int
    reason: str
    requested_by: str
    detail: dict[str, Any] = field(default_factory=dict)
    erasure_id: str = field(default_factory=lambda: f"e-{uuid.uuid4().hex}")
    erased_at: float = field(default_factory=time.time)


def check_text(value: object, what: str) -> str:
    """A reason or requester: a non-empty string of at most MAX_TEXT characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_TEXT:
        raise InvalidInputError(f"{what} is {len(value)} characters; at most {MAX_TEXT}")
    return value
