"""The store kinds the contract suite runs on, and the mark for tests that cannot run on all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])

ASYNC_KINDS = ("sqlite-async", "postgres-async")
"""The async stores (AsyncSqliteDb, AsyncPostgresDb), driven as conftest.py says."""
SYNC_STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
STORES = [
    *SYNC_STORES,
    "sqlite-async",
    pytest.param("postgres-async", marks=pytest.mark.postgres),
]


def sync_only(reason: str) -> Callable[[F], F]:
    """Run the decorated test on the sync stores only, for ``reason`` (why an async
    store cannot run it): marked ``sync_only(reason)``, and the async kinds left
    out of its ``store_kind`` parametrization at collection (not skipped)."""

    def mark(test: F) -> F:
        test = pytest.mark.parametrize("store_kind", SYNC_STORES, indirect=True)(test)
        return pytest.mark.sync_only(reason)(test)

    return mark


THREADED = sync_only(
    "threads share the store here: an async store serves the tasks of one event loop "
    "(its own concurrency tests are in tests/sqlite and tests/postgres)"
)
"""A test whose threads share one store."""
