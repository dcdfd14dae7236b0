"""Data keys: one per session, owned by the session's data subject (its user),
created with the session's first sealed event, kept wrapped by the keyring's
master key in the store's keys table, and destroyed by an erasure: of the
session, or of every session of its user.

A :class:`Keyring` holds the master key (or reaches it: a KMS): it wraps and
unwraps data keys and never sees an event. :class:`DataKeys` is what a store
with a keyring holds: the key for a subject (made and stored the first time),
the key for an id (for reading), and the check at open that the keyring is
the one the keys were wrapped with. The encryption itself is
:mod:`kern.domain.sealing`.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kern.domain.encoding import seal
from kern.domain.errors import KeyringError
from kern.domain.events import SessionEvent
from kern.domain.sealing import DataKey


@dataclass(frozen=True)
class KeyRow:
    """One row of a store's keys table."""

    session_id: str
    owner: str | None
    """The session's user (the data subject); None for a session without one."""
    key_id: str
    master_key_id: str
    wrapped: bytes = field(repr=False)
    created_at: float


class Keyring(ABC):
    """Wraps and unwraps data keys with a master key. Implement it over a KMS to keep
    the master key out of the process; :class:`kern.crypto.LocalKeyring` holds one."""

    @property
    @abstractmethod
    def master_key_id(self) -> str:
        """A stable id of the master key (never the key): stored beside each key it wraps."""

    @abstractmethod
    def wrap(self, secret: bytes, subject: str) -> bytes:
        """``secret`` (a data key) encrypted under the master key, bound to ``subject``."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, subject: str, master_key_id: str) -> bytes:
        """The data key :meth:`wrap` wrapped; KeyringError when this keyring cannot
        (another master key, or the bytes were changed)."""

    def unwraps(self, master_key_id: str) -> bool:
        """Whether this keyring can unwrap keys wrapped by ``master_key_id``."""
        return master_key_id == self.master_key_id


class RotatingKeyring(Keyring):
    """A keyring in the middle of a master key rotation: it wraps new keys with
    ``current`` and unwraps keys wrapped by ``current`` or any of ``previous``.

    Open every process with it, then :meth:`KernDb.rotate_keyring` rewraps the
    keys still wrapped by a previous master key; once it reports none left, the
    processes can go back to ``current`` alone."""

    def __init__(self, current: Keyring, *previous: Keyring) -> None:
        for keyring in (current, *previous):
            if not isinstance(keyring, Keyring):
                raise KeyringError(
                    f"a RotatingKeyring is made of keyrings, got {type(keyring).__name__}"
                )
        self.current = current
        self.previous = previous

    @property
    def master_key_id(self) -> str:
        return self.current.master_key_id

    def wrap(self, secret: bytes, subject: str) -> bytes:
        return self.current.wrap(secret, subject)

    def unwrap(self, wrapped: bytes, subject: str, master_key_id: str) -> bytes:
        for keyring in (self.current, *self.previous):
            if keyring.unwraps(master_key_id):
                return keyring.unwrap(wrapped, subject, master_key_id)
        return self.current.unwrap(wrapped, subject, master_key_id)  # its error names it

    def unwraps(self, master_key_id: str) -> bool:
        return any(k.unwraps(master_key_id) for k in (self.current, *self.previous))


class KeyTable(Protocol):
    """What a store keeps of the keys (its keys table, and the erasure ledger's say)."""

    def get_key(self, *, session_id: str | None = None, key_id: str | None = None) -> KeyRow | None:
        """The row of ``session_id`` or of ``key_id``."""

    def any_key(self) -> KeyRow | None:
        """One row, any; None when there is none."""

    def key_erased(self, key_id: str) -> bool:
        """Whether the erasure ledger records this key as destroyed."""


class DataKeys:
    """A store's data keys, unwrapped once per process. Thread-safe."""

    def __init__(self, table: KeyTable, keyring: Keyring) -> None:
        if not isinstance(keyring, Keyring):
            raise KeyringError(
                f"keyring must be a kern.crypto.Keyring (LocalKeyring, or your own over a "
                f"KMS), got {type(keyring).__name__}"
            )
        self.table = table
        self.keyring = keyring
        self._lock = threading.Lock()
        self._by_session: dict[str, DataKey] = {}
        self._by_id: dict[str, DataKey] = {}
        self._erased: set[str] = set()
        """Ids of keys an erasure destroyed: that never changes, so it is asked once."""
        self._new: dict[str, tuple[KeyRow, DataKey]] = {}
        """Keys made for sessions that have none stored yet: each is stored by the
        append that first writes events sealed with it, in that append's transaction
        (:meth:`take_new`), so a key never outlives a lost race or a failed write."""

    def check(self) -> None:
        """At open: a stored key unwraps with this keyring (KeyringError, naming the
        master key it needs, if it does not). Nothing is written.

        One key stands for all: a store's keys are wrapped by one master key (a
        rotation rewraps them all in one transaction), and each key is unwrapped,
        and checked again, when first used. Reading every key here made opening a
        store cost as much as its number of sessions."""
        row = self.table.any_key()
        if row is not None:
            self.unwrap(row)

    def key_for(self, session_id: str, owner: str | None) -> DataKey:
        """The session's key: its stored one, or a new one, held until the append
        that writes the session's first sealed events stores it (:meth:`take_new`)."""
        found = self._by_session.get(session_id) or self._new_key(session_id)
        if found is not None:
            return found
        row = self.table.get_key(session_id=session_id)
        if row is not None:
            return self._remember(row)
        fresh = DataKey.new(f"k-{uuid.uuid4().hex}")
        row = KeyRow(
            session_id=session_id,
            owner=owner,
            key_id=fresh.key_id,
            master_key_id=self.keyring.master_key_id,
            wrapped=self.keyring.wrap(fresh.secret, session_id),
            created_at=time.time(),
        )
        with self._lock:
            self._new[session_id] = (row, fresh)
        return fresh

    def current(self, session_id: str) -> DataKey | None:
        """The session's stored key (None when it has none: never sealed, or erased)."""
        found = self._by_session.get(session_id)
        if found is not None:
            return found
        row = self.table.get_key(session_id=session_id)
        return self._remember(row) if row is not None else None

    def held(self, session_id: str) -> str | None:
        """The id of the stored key this process seals the session's events with
        (None when it holds none, or only a new one)."""
        key = self._by_session.get(session_id)
        return key.key_id if key is not None else None

    def drop(self, key_id: str) -> None:
        """Forget the key ``key_id`` (its row is gone): the session's next events
        are sealed with whatever key the store has for it then, or a new one."""
        with self._lock:
            self._by_id.pop(key_id, None)
            for session_id in [s for s, k in self._by_session.items() if k.key_id == key_id]:
                del self._by_session[session_id]

    def _new_key(self, session_id: str) -> DataKey | None:
        with self._lock:
            made = self._new.get(session_id)
        return made[1] if made is not None else None

    def take_new(self, session_id: str) -> tuple[KeyRow, DataKey] | None:
        """The session's new key and its row, for the append about to write the
        events it sealed; the key is no longer held as new either way. The append
        inserts the row with its events (a session that has a key by then makes
        it fail as a conflict, and the retry seals with the stored key) and, once
        committed, hands it back to :meth:`stored`."""
        with self._lock:
            made = self._new.pop(session_id, None)
        return made

    def stored(self, made: tuple[KeyRow, DataKey]) -> None:
        """The key :meth:`take_new` gave was committed: it is the session's."""
        self._cache(*made)

    def lookup(self, key_id: str) -> DataKey | None:
        """The key with this id; None when an erasure destroyed it. KeyringError when
        the store never had it (its events came from another store's keys)."""
        found = self._by_id.get(key_id)
        if found is not None:
            return found
        if key_id in self._erased:
            return None
        row = self.table.get_key(key_id=key_id)
        if row is not None:
            return self._remember(row)
        if self.table.key_erased(key_id):
            with self._lock:
                self._erased.add(key_id)
            return None
        raise KeyringError(
            f"no data key {key_id!r} in this store's keys table, and no erasure of it: "
            "these events were sealed by another store's keys"
        )

    def forget(self, rows: Sequence[KeyRow]) -> None:
        """Drop these keys from this process (after their rows were deleted)."""
        with self._lock:
            for row in rows:
                self._by_session.pop(row.session_id, None)
                self._new.pop(row.session_id, None)
                self._by_id.pop(row.key_id, None)
                self._erased.add(row.key_id)

    def _remember(self, row: KeyRow) -> DataKey:
        return self._cache(row, DataKey(row.key_id, self.unwrap(row)))

    def _cache(self, row: KeyRow, key: DataKey) -> DataKey:
        with self._lock:
            self._by_session[row.session_id] = key
            self._by_id[row.key_id] = key
        return key

    def unwrap(self, row: KeyRow) -> bytes:
        """The secret of ``row``'s key; KeyringError when this keyring cannot unwrap it."""
        if not self.keyring.unwraps(row.master_key_id):
            raise KeyringError(
                f"the data key of session {row.session_id!r} is wrapped by master key "
                f"{row.master_key_id!r}, and this keyring's is {self.keyring.master_key_id!r}: "
                "open the store with the keyring it was written with"
            )
        return self.keyring.unwrap(row.wrapped, row.session_id, row.master_key_id)


def seal_events(
    keys: DataKeys, events: Sequence[SessionEvent], previous: str, owner: str | None
) -> str:
    """Seal a session's new ``events`` in place, in order, under its key, chained
    from ``previous``; the last one's hash."""
    key = keys.key_for(events[0].session_id, owner)
    for event in events:
        seal(event, previous, key)
        previous = event.hash
    return previous
