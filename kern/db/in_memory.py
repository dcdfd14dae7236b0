"""``InMemoryDb``: sessions kept in this process's memory (tests, notebooks)."""

from __future__ import annotations

from kern.adapters.stores.memory import InMemoryStore
from kern.application.sessions import KernDb


class InMemoryDb(KernDb):
    """A real store, not a mock: the same contract as SQLite and PostgreSQL."""

    def __init__(self) -> None:
        super().__init__(InMemoryStore())


__all__ = ["InMemoryDb"]
