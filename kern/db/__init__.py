"""Kern's stores: ``kern.db.sqlite.SqliteDb``, ``kern.db.in_memory.InMemoryDb``
and ``kern.db.postgres.PostgresDb``, all behind the same ``KernDb`` API."""

from __future__ import annotations

from kern.application.ports import FeedEntry, FeedPosition
from kern.application.sessions import KernDb

__all__ = ["FeedEntry", "FeedPosition", "KernDb"]
