"""``InMemoryDb``: sessions kept in this process's memory (tests, notebooks)."""

from __future__ import annotations

from kern.adapters.db import KernDb
from kern.adapters.memory import InMemoryStore


class InMemoryDb(KernDb):
    """A real store, not a mock: the same contract as SQLite and PostgreSQL."""

    def __init__(self) -> None:
        super().__init__(InMemoryStore())


__all__ = ["InMemoryDb"]
