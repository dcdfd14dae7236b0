"""The data keys table (migration 4 of each dialect): its rows and statements.

One row per session with a key: the session, its owner (the data subject, None
for a session without a user), the key's id, the id of the master key that
wrapped it, and the wrapped key. Both SQL stores run these statements with
their own parameter placeholder; the table names come already quoted or checked.
"""

from __future__ import annotations

from typing import Any

from kern.application.keys import KeyRow

COLUMNS = ("session_id", "owner", "key_id", "master_key_id", "wrapped", "created_at")
ERASED_KINDS = ("erase_user", "erase_session", "retention", "import")


class DataKeyGone(Exception):
    """An append's events were sealed with a data key whose row is gone (an erasure
    or a purge committed meanwhile): the append wrote nothing."""


def to_key(row: Any) -> KeyRow:
    """The key row a database row (a mapping by column name) holds."""
    wrapped = row["wrapped"]
    return KeyRow(
        session_id=row["session_id"],
        owner=row["owner"],
        key_id=row["key_id"],
        master_key_id=row["master_key_id"],
        wrapped=bytes(wrapped) if not isinstance(wrapped, str) else wrapped.encode(),
        created_at=float(row["created_at"]),
    )


def select(table: str, column: str, *, mark: str) -> str:
    """The rows whose ``column`` (session_id, key_id or owner) is the parameter."""
    assert column in ("session_id", "key_id", "owner")
    return f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE {column} = {mark}"


def exists(table: str, *, mark: str) -> str:
    """Whether the key with the given id is there."""
    return f"SELECT 1 FROM {table} WHERE key_id = {mark}"


def select_any(table: str) -> str:
    """One row, any (the keyring check at open)."""
    return f"SELECT {', '.join(COLUMNS)} FROM {table} LIMIT 1"


def select_all(table: str) -> str:
    """Every row, oldest first."""
    return f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY created_at, session_id"


def insert(table: str, row: KeyRow, *, mark: str) -> tuple[str, list[Any]]:
    """The row (an integrity error when the session has a key: the first writer's
    key wins, and the loser's append, which carries it, fails as a conflict)."""
    statement = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"
    )
    return statement, params(row)


def params(row: KeyRow) -> list[Any]:
    """The row's values, in :data:`COLUMNS` order."""
    return [row.session_id, row.owner, row.key_id, row.master_key_id, row.wrapped, row.created_at]


def delete(table: str, *, mark: str) -> str:
    """Deleting a key by its id."""
    return f"DELETE FROM {table} WHERE key_id = {mark}"


def rewrap(table: str, *, mark: str) -> str:
    """Replacing a key's wrapping (master key rotation): wrapped, master_key_id by key_id."""
    return f"UPDATE {table} SET wrapped = {mark}, master_key_id = {mark} WHERE key_id = {mark}"


def erased(erasures_table: str, *, mark: str) -> str:
    """Whether the ledger records the key as destroyed: the parameter is
    :func:`erased_pattern` of its id, matched against the entry's detail (which
    lists the destroyed keys' ids)."""
    kinds = ", ".join(f"'{kind}'" for kind in ERASED_KINDS)
    return f"SELECT 1 FROM {erasures_table} WHERE kind IN ({kinds}) AND detail LIKE {mark}"


def erased_pattern(key_id: str) -> str:
    """The LIKE pattern of a key id in an entry's detail (key ids are k- and hex)."""
    return f'%"{key_id}"%'
