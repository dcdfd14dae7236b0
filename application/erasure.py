"""Purging a session without a keyring, and reading the erasure ledger.

A purge is the explicit, recorded way to forget a session in a store that has
no keyring: its events, listing row, snapshot and segments are deleted in one
transaction that also writes the ledger entry, which keeps the purged head
(last version and hash) so that anchors taken before can tell a purge from
tampering (:func:`purged_head_problem`). The store lifts its append-only guard
for exactly that session's rows and that transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from kern.application.ports import SessionStore
from kern.domain.anchors import Head, stored_hash
from kern.domain.erasure import ErasureEntry, purge_entry, purge_of
from kern.domain.errors import SessionNotFoundError
from kern.domain.identity import validate_session_id


def purge(
    store: SessionStore, session_id: object, *, reason: object, requested_by: object
) -> ErasureEntry:
    """Delete ``session_id``'s log and record it; the ledger entry written.

    InvalidInputError for a bad reason or requester and SessionNotFoundError for a
    session with no events, both before anything is written."""
    checked = validate_session_id(session_id)
    erased_at = datetime.now(UTC)
    # Built once before the read, so bad input is refused before any I/O.
    purge_entry(
        erasure_id="-",
        erased_at=erased_at,
        session_id=checked,
        head_version=0,
        head_hash="",
        reason=reason,
        requested_by=requested_by,
    )
    last = store.last_record(checked)
    if last is None:
        raise SessionNotFoundError.of(checked)
    entry = purge_entry(
        erasure_id=str(uuid4()),
        erased_at=erased_at,
        session_id=checked,
        head_version=last.version,
        head_hash=stored_hash(last) or "",
        reason=reason,
        requested_by=requested_by,
    )
    store.purge_session(checked, entry)
    return entry


def find_purge(store: SessionStore, session_id: str) -> ErasureEntry | None:
    """The latest purge of ``session_id`` the ledger records, if any."""
    return purge_of(store.erasures(), session_id)


def purged_note(entry: ErasureEntry) -> str:
    """How verify reports a purged session: the ledger's account of it."""
    return f"purged: {entry.describe()}"


def covers(entry: ErasureEntry, head: Head, anchored_at: datetime) -> bool:
    """Whether the purge ``entry`` explains the loss of the ``head`` anchored at
    ``anchored_at``: the purge came after the anchor, and removed the log at or
    after that head (a later version, or the same version with the anchored hash)."""
    if entry.erased_at < anchored_at:
        return False
    version = entry.detail.get("purged_head_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return False
    if version > head.version:
        return True
    return version == head.version and entry.detail.get("purged_head_hash") == head.hash
