"""``InMemoryDb``: sessions kept in this process's memory (tests, notebooks)."""

from __future__ import annotations

from kern.adapters.stores.memory import InMemoryStore
from kern.application.keys import Keyring
from kern.application.sessions import KernDb


class InMemoryDb(KernDb):
    """A real store, not a mock: the same contract as SQLite and PostgreSQL.
    ``strict_users=True`` makes every call name a user_id, as on the others."""

    blocking = False
    """It never waits for I/O: an asyncio service may call it on the loop."""

    def __init__(self, *, strict_users: bool = False, keyring: Keyring | None = None) -> None:
        store = InMemoryStore()
        store.use_keyring(keyring)
        super().__init__(store, strict_users=strict_users)


__all__ = ["InMemoryDb"]
