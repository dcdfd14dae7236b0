"""Windows over sequences, shared by the history and message queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def last_n(items: Sequence[T], n: int | None) -> list[T]:
    """The last ``n`` items: all of them for None, none for ``n <= 0``.

    (Agno slices with ``items[-n:]``, so 0 gives everything; Kern gives nothing.)
    """
    if n is None:
        return list(items)
    if n <= 0:
        return []
    return list(items[-n:])
