"""Forgetting: erasures that destroy data keys, retention, and master key rotation.

An erasure deletes the data keys of the sessions it names (every session of a
user, one session, or every session older than a retention age), blanks their
names in the listing, and records an entry in the erasure ledger, in one
transaction. The events stay, hash-chained over their ciphertext: verify and
anchors pass, and every sealed value reads back as its marker
(:data:`kern.domain.sealing.ERASED`). See docs/privacy.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from kern.application.keys import DataKeys, Keyring, KeyRow
from kern.application.ports import SessionStore
from kern.domain.erasure import MAX_REASON, MAX_REQUESTED_BY, ErasureEntry, check_text
from kern.domain.errors import InvalidInputError, KeyringError, SessionNotFoundError
from kern.domain.sealing import sealed_key_id


def keys_of(store: SessionStore, what: str) -> DataKeys:
    """The store's data keys; KeyringError when it has no keyring."""
    if store.data_keys is None:
        raise KeyringError(
            f"{what} destroys data keys, and this store has no keyring: open it with "
            "keyring=... (without one, a session can only be purged: purge_session)"
        )
    return store.data_keys


def erase(
    store: SessionStore,
    rows: Sequence[KeyRow],
    *,
    kind: str,
    subject: str,
    reason: str,
    requested_by: str,
) -> ErasureEntry | None:
    """Destroy ``rows``' keys and record the erasure; None when there was none."""
    keys = keys_of(store, kind)
    if not rows:
        return None
    entry = ErasureEntry(
        erasure_id=f"e-{uuid.uuid4().hex}",
        erased_at=datetime.now(UTC),
        kind=kind,
        subject=subject,
        sessions=len(rows),
        reason=reason,
        requested_by=requested_by,
        detail={
            "keys": [row.key_id for row in rows],
            "sessions": [row.session_id for row in rows],
        },
    )
    store.destroy_keys(rows, entry)
    keys.forget(rows)
    store.forget_cached([row.session_id for row in rows])
    return entry


def erase_user(
    store: SessionStore, user_id: str, *, reason: str, requested_by: str
) -> ErasureEntry | None:
    """Every session of ``user_id`` made unreadable."""
    keys_of(store, "erase_user")
    rows = store.key_rows(owner=user_id)
    # The ledger names no person: "user", and the destroyed keys' ids.
    return erase(
        store, rows, kind="erase_user", subject="user", reason=reason, requested_by=requested_by
    )


def erase_session(
    store: SessionStore, session_id: str, *, reason: str, requested_by: str
) -> ErasureEntry | None:
    """One session made unreadable; None when it was erased before."""
    keys_of(store, "erase_session")
    row = store.get_key(session_id=session_id)
    if row is None:
        if not store.read(session_id, upto=1):
            raise SessionNotFoundError.of(session_id)
        if not erased(store, session_id):
            raise KeyringError(
                f"session {session_id!r} has no data key: it was recorded without a "
                "keyring, so its values are in clear; purge it (purge_session) instead"
            )
        return None
    return erase(
        store,
        [row],
        kind="erase_session",
        subject=f"session:{session_id}",
        reason=reason,
        requested_by=requested_by,
    )


def erased(store: SessionStore, session_id: str, version: int = 1) -> bool:
    """Whether the event at ``version`` of the session was sealed under a key that
    an erasure destroyed (the session may have been written to since, under a
    new key: what the erasure took stays gone)."""
    if store.data_keys is None:
        return False
    found = [r for r in store.read_records(session_id) if r.version == version]
    key_id = sealed_key_id(found[0].state) if found else None
    return key_id is not None and store.data_keys.lookup(key_id) is None


def retention(
    store: SessionStore,
    older_than: timedelta,
    *,
    reason: str,
    requested_by: str,
    workflow_id: str | None = None,
    now: Callable[[], float] = time.time,
) -> ErasureEntry | None:
    """Every session created more than ``older_than`` ago (of ``workflow_id`` only,
    when given) made unreadable. Idempotent: a second call finds their keys gone."""
    keys_of(store, "retention")
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidInputError(f"older_than must be a positive timedelta, got {older_than!r}")
    cutoff = now() - older_than.total_seconds()
    rows = [row for row in store.key_rows() if row.created_at < cutoff]
    if workflow_id is not None:
        rows = [row for row in rows if _workflow(store, row.session_id) == workflow_id]
    return erase(
        store,
        rows,
        kind="retention",
        subject=f"older than {older_than.total_seconds():.0f}s",
        reason=reason,
        requested_by=requested_by,
    )


def _workflow(store: SessionStore, session_id: str) -> str | None:
    row = store.listing_row(session_id)
    return row.workflow_id if row is not None else None


def rotate(store: SessionStore, keyring: Keyring) -> int:
    """Every data key not yet wrapped by ``keyring``'s master key rewrapped by it
    (no event is rewritten); the store then uses ``keyring``. The number of keys
    rewrapped: run again, it rewraps only those another process made meanwhile
    with a previous master key (see :class:`kern.application.keys.RotatingKeyring`)."""
    old = keys_of(store, "rotate_keyring")
    fresh = DataKeys(store, keyring)
    rows = [row for row in store.key_rows() if row.master_key_id != keyring.master_key_id]
    rewrapped = [
        KeyRow(
            session_id=row.session_id,
            owner=row.owner,
            key_id=row.key_id,
            master_key_id=keyring.master_key_id,
            wrapped=keyring.wrap(_unwrapped(row, old, fresh), row.session_id),
            created_at=row.created_at,
        )
        for row in rows
    ]
    store.rewrap_keys(rewrapped)
    store.data_keys = fresh
    return len(rewrapped)


def _unwrapped(row: KeyRow, old: DataKeys, fresh: DataKeys) -> bytes:
    """``row``'s key, unwrapped by the store's keyring or, failing that, by the new."""
    if fresh.keyring.unwraps(row.master_key_id):
        return fresh.unwrap(row)
    return old.unwrap(row)


def checked(reason: object, requested_by: object) -> tuple[str, str]:
    """The reason and requester of an erasure, checked (they go to the ledger: they
    must name no person)."""
    return (
        check_text(reason, what="reason", longest=MAX_REASON),
        check_text(requested_by, what="requested_by", longest=MAX_REQUESTED_BY),
    )
