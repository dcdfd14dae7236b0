"""The erasure ledger's entries and when a purge explains an anchored head's loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kern.application.erasure import covers
from kern.domain.anchors import Head
from kern.domain.erasure import ErasureEntry, entry_from_row, purge_entry, purge_of
from kern.errors import InvalidInputError

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _purge(version: int, hash_: str = "h9", when: datetime = NOW) -> ErasureEntry:
    return purge_entry(
        erasure_id="e1",
        erased_at=when,
        session_id="s1",
        head_version=version,
        head_hash=hash_,
        reason="ticket 1",
        requested_by="dpo",
    )


def test_an_entry_reads_back_from_its_row() -> None:
    """The columns the ledger stores give the same entry back."""
    entry = _purge(9)
    row = (
        entry.erasure_id,
        entry.erased_at_seconds,
        entry.kind,
        entry.subject,
        entry.sessions,
        entry.detail_json,
        entry.reason,
        entry.requested_by,
    )
    assert entry_from_row(*row) == entry
    assert entry.detail_json == '{"purged_head_version":9,"purged_head_hash":"h9"}'
    assert entry.to_json()["erased_at"] == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("reason", "requested_by"),
    [
        ("", "dpo"),
        ("  ", "dpo"),
        ("x" * 501, "dpo"),
        ("ok", "y" * 201),
        ("a\tb", "dpo"),
        (3, "dpo"),
    ],
)
def test_a_purge_entry_refuses_unusable_words(reason: object, requested_by: object) -> None:
    with pytest.raises(InvalidInputError):
        purge_entry(
            erasure_id="e1",
            erased_at=NOW,
            session_id="s1",
            head_version=1,
            head_hash="h",
            reason=reason,
            requested_by=requested_by,
        )


def test_the_latest_purge_of_a_session_is_found() -> None:
    first, second = _purge(3), _purge(9)
    assert purge_of([first, second], "s1") is second
    assert purge_of([first, second], "s2") is None


@pytest.mark.parametrize(
    ("version", "hash_", "anchored_at", "expected"),
    [
        (9, "h9", NOW - timedelta(days=1), True),  # the anchored head itself
        (12, "h12", NOW - timedelta(days=1), True),  # the log had grown past it
        (9, "other", NOW - timedelta(days=1), False),  # another log at that version
        (8, "h8", NOW - timedelta(days=1), False),  # cut short before the purge
        (9, "h9", NOW + timedelta(days=1), False),  # a purge before the anchor
    ],
)
def test_a_purge_covers_an_anchored_head_only_at_or_after_it(
    version: int, hash_: str, anchored_at: datetime, expected: bool
) -> None:
    assert covers(_purge(version, hash_), Head("s1", 9, "h9"), anchored_at) is expected
