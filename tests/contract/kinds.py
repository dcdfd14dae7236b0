"""The store kinds the contract suite runs on, and the mark for tests that cannot run on all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])

ASYNC_KINDS = ("sqlite-async", "postgres-async")
"""The async stores (AsyncSqliteDb, AsyncPostgresDb), driven as conftest.py says."""
SYNC_STORES = [
    "memory",
    "sqlite",
    "sqlite-keyring",
    pytest.param("postgres", marks=pytest.mark.postgres),
]
STORES = [
    *SYNC_STORES,
    "sqlite-async",
    pytest.param("postgres-async", marks=pytest.mark.postgres),
]


def sync_only(reason: str) -> Callable[[F], F]:
    """Run the decorated test on the sync stores only, for ``reason`` (why an async
    store cannot run it): marked ``sync_only(reason)``, and the async kinds left
    out of its ``store_kind`` parametrization at collection (not skipped). Over
    :func:`plain_only`, the encrypted store is left out too."""

    def mark(test: F) -> F:
        kinds = SYNC_STORES
        if any(m.name == "plain_only" for m in getattr(test, "pytestmark", [])):
            kinds = [k for k in SYNC_STORES if k != "sqlite-keyring"]
        test = pytest.mark.parametrize("store_kind", kinds, indirect=True)(test)
        return pytest.mark.sync_only(reason)(test)

    return mark


THREADED = sync_only(
    "threads share the store here: an async store serves the tasks of one event loop "
    "(its own concurrency tests are in tests/sqlite and tests/postgres)"
)
"""A test whose threads share one store."""


PLAIN_STORES = [kind for kind in STORES if kind != "sqlite-keyring"]
"""Every kind but the encrypted one."""


def plain_only(reason: str) -> Callable[[F], F]:
    """Run the decorated test on the stores without a keyring only, for ``reason``
    (why it cannot hold on an encrypted store: it reads or rewrites the stored
    bytes of values, which a keyring seals): marked ``plain_only(reason)``, and
    ``sqlite-keyring`` left out of its ``store_kind`` parametrization."""

    def mark(test: F) -> F:
        test = pytest.mark.parametrize("store_kind", PLAIN_STORES, indirect=True)(test)
        return pytest.mark.plain_only(reason)(test)

    return mark


STORED_BYTES = plain_only(
    "it reads or rewrites values in the stored payloads, which a keyring seals "
    "(tests/contract/privacy covers the encrypted stores' own bytes)"
)
"""A test about the plaintext stored form of values."""
