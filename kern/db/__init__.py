"""Kern's stores: ``kern.db.sqlite.SqliteDb``, ``kern.db.in_memory.InMemoryDb``
and ``kern.db.postgres.PostgresDb``, all behind the same ``KernDb`` API."""

from __future__ import annotations

from kern.adapters.db import KernDb
from kern.adapters.store import FeedEntry, FeedPosition

__all__ = ["FeedEntry", "FeedPosition", "KernDb"]
