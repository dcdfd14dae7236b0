"""Data keys in exports: an encrypted session travels with its key, still wrapped.

``export(keys=True)`` writes, before a sealed session's event lines, one line
``{"session_id": ..., "data_keys": [...], "erased_keys": [...]}``: each data
key that sealed its events and is still there, as the keys table holds it
(wrapped by the master key, never in clear), and the ids of those an erasure
destroyed. ``import_lines`` stores the keys with the events, in their
transaction, rewrapped by the target's master key when the lines were wrapped
by another (given as ``keyring=``), and records the destroyed ones in the
target's erasure ledger, so their values read as erased there too.

An export without its keys is ciphertext only: importing its sealed sessions
into another store is refused, naming the key it lacks.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kern.application.keys import Keyring, KeyRow
from kern.application.ports import SessionStore
from kern.domain.encoding import encode_json
from kern.domain.erasure import ErasureEntry
from kern.domain.errors import InvalidInputError, KeyringError
from kern.domain.records import Record
from kern.domain.sealing import sealed_key_id

IMPORTED_ERASED = "import"
"""The ledger's kind for keys destroyed in the store an import came from."""


def key_ids(records: Sequence[Record]) -> list[str]:
    """The ids of the keys that sealed ``records``, in first-use order."""
    found: dict[str, None] = {}
    for record in records:
        key_id = sealed_key_id(record.state)
        if key_id is not None:
            found.setdefault(key_id)
    return list(found)


def key_line(store: SessionStore, session_id: str, records: Sequence[Record]) -> str | None:
    """The line carrying the keys of a session's sealed ``records`` (None when
    nothing is sealed)."""
    ids = key_ids(records)
    if not ids:
        return None
    rows, erased = [], []
    for key_id in ids:
        row = store.get_key(key_id=key_id)
        if row is not None:
            rows.append(row)
        elif store.key_erased(key_id):
            erased.append(key_id)
        else:
            raise KeyringError(
                f"session {session_id!r} is sealed with data key {key_id!r}, which this "
                "store neither has nor records as erased"
            )
    line = {
        "session_id": session_id,
        "data_keys": [_key_json(row) for row in rows],
        "erased_keys": erased,
    }
    return encode_json(line).decode("utf-8")


def _key_json(row: KeyRow) -> dict[str, Any]:
    return {
        "key_id": row.key_id,
        "owner": row.owner,
        "master_key_id": row.master_key_id,
        "wrapped": base64.b64encode(row.wrapped).decode("ascii"),
        "created_at": row.created_at,
    }


def parse_key_line(
    data: dict[str, Any], session_id: str, number: int
) -> tuple[list[KeyRow], list[str]]:
    """The key rows and destroyed key ids a ``data_keys`` line holds."""
    keys, erased = data.get("data_keys"), data.get("erased_keys", [])
    if not isinstance(keys, list) or not isinstance(erased, list):
        raise InvalidInputError(f"line {number}: data_keys and erased_keys must be lists")
    if not all(isinstance(key_id, str) and key_id for key_id in erased):
        raise InvalidInputError(f"line {number}: erased_keys must hold key ids")
    rows = []
    for key in keys:
        if not isinstance(key, dict):
            raise InvalidInputError(f"line {number}: each data key must be an object")
        key_id, owner, master = key.get("key_id"), key.get("owner"), key.get("master_key_id")
        created, wrapped = key.get("created_at"), key.get("wrapped")
        if not (isinstance(key_id, str) and key_id and isinstance(master, str) and master):
            raise InvalidInputError(f"line {number}: a data key needs key_id and master_key_id")
        if owner is not None and not isinstance(owner, str):
            raise InvalidInputError(f"line {number}: a data key's owner must be a string")
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise InvalidInputError(f"line {number}: a data key's created_at must be a number")
        try:
            secret = base64.b64decode(str(wrapped), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"line {number}: a data key's wrapped is not base64") from None
        rows.append(KeyRow(session_id, owner, key_id, master, secret, float(created)))
    return rows, list(erased)


def import_keys(
    store: SessionStore,
    sessions: dict[str, tuple[list[Record], list[KeyRow], list[str]]],
    keyring: Keyring | None,
) -> tuple[list[KeyRow], ErasureEntry | None]:
    """The key rows to store with the imported sessions (wrapped by the target's
    master key) and the ledger entry for the keys the source had destroyed.

    KeyringError when the target has no keyring for sealed sessions or a key
    cannot be unwrapped; InvalidInputError when a sealed session comes without
    the key that sealed it."""
    rows: list[KeyRow] = []
    erased: dict[str, list[str]] = {}
    for session_id, (records, keys, gone) in sessions.items():
        used = key_ids(records)
        if not used:
            continue
        target = store.data_keys
        if target is None:
            raise KeyringError(
                f"session {session_id!r} is encrypted: import it into a store opened with a keyring"
            )
        carried = {row.key_id: row for row in keys}
        for key_id in used:
            if key_id in carried or key_id in gone:
                continue
            if store.get_key(key_id=key_id) is None and not store.key_erased(key_id):
                raise InvalidInputError(
                    f"session {session_id!r} is sealed with data key {key_id!r}, which the "
                    "lines do not carry: export it with its keys (export(keys=True), "
                    "kern export --keys)"
                )
        rows += [_rewrapped(row, target.keyring, keyring) for row in carried.values()]
        # Only what the lines need the ledger to say: a key that sealed these
        # records and that neither came with them nor is here. The lines cannot
        # have the ledger record any other key (another session's) as destroyed.
        for key_id in used:
            if key_id in gone and key_id not in carried and store.get_key(key_id=key_id) is None:
                erased.setdefault(key_id, []).append(session_id)
    for row in rows:
        store.data_keys.unwrap(row)  # type: ignore[union-attr]  # a corrupt key fails here
    if not erased:
        return rows, None
    touched = sorted({sid for sids in erased.values() for sid in sids})
    entry = ErasureEntry(
        erasure_id=f"e-{uuid.uuid4().hex}",
        erased_at=datetime.now(UTC),
        kind=IMPORTED_ERASED,
        subject="session",
        sessions=len(touched),
        reason="destroyed in the store the imported lines came from",
        detail={"keys": list(erased), "sessions": touched},
    )
    return rows, entry


def _rewrapped(row: KeyRow, target: Keyring, source: Keyring | None) -> KeyRow:
    if row.master_key_id == target.master_key_id:
        return row
    if target.unwraps(row.master_key_id):  # a previous master key of the target's
        source = target
    if source is None or not source.unwraps(row.master_key_id):
        raise KeyringError(
            f"the data key of session {row.session_id!r} is wrapped by master key "
            f"{row.master_key_id!r}, and this store's is {target.master_key_id!r}: pass "
            "the keyring the lines were exported with (keyring=..., kern import "
            "--source-master-key-file)"
        )
    secret = source.unwrap(row.wrapped, row.session_id, row.master_key_id)
    return KeyRow(
        session_id=row.session_id,
        owner=row.owner,
        key_id=row.key_id,
        master_key_id=target.master_key_id,
        wrapped=target.wrap(secret, row.session_id),
        created_at=row.created_at,
    )
