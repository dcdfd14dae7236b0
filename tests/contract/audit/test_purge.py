"""Purging a session without a keyring, on every store: its log, listing row,
snapshot and segments go in one transaction, the erasure ledger records it, and
every other session reads and verifies as before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kern.db import KernDb
from kern.domain.anchors import stored_hash
from kern.domain.erasure import ErasureEntry
from kern.errors import (
    InvalidInputError,
    InvalidSessionIdError,
    SessionNotFoundError,
    UserRequiredError,
)
from kern.workflow import Workflow
from tests.contract.audit.conftest import Tampering, run_twice, stored
from tests.contract.conftest import close, make_db

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Sessions s1 and s2, two runs each (versions 1-9); s1's runs hold a marker."""
    workflow = make_workflow()
    workflow.run(input="marker-7f3a secret", session_id="s1")
    workflow.run(input="again", session_id="s1")
    run_twice(workflow, "s2")
    return workflow


def test_purge_removes_the_session_and_records_the_ledger_entry(
    db: KernDb, workflow: Workflow
) -> None:
    """After the purge the session has no events, no listing row and no snapshot;
    the ledger entry names it with its purged head and the operator's words."""
    head = db.store.last_record("s1")
    assert head is not None
    entry = db.purge_session("s1", reason="ticket 4711", requested_by="dpo")
    assert (entry.kind, entry.subject, entry.sessions) == ("purge", "s1", 1)
    assert entry.detail == {
        "purged_head_version": head.version,
        "purged_head_hash": stored_hash(head),
    }
    assert (entry.reason, entry.requested_by) == ("ticket 4711", "dpo")
    assert entry.erased_at <= datetime.now(UTC)
    assert db.store.read_records("s1") == []
    assert db.store.listing_row("s1") is None
    assert db.store.session_ids() == ["s2"]
    assert db.get_events("s1") == []
    assert db.get_session("s1") is None
    assert [s.session_id for s in db.get_sessions(limit=10)] == ["s2"]
    assert db.erasures() == [entry]


def test_purge_leaves_every_other_session_as_it_was(db: KernDb, workflow: Workflow) -> None:
    """The other session's stored bytes are the same, and it still verifies."""
    before = stored(db, "s2")
    db.purge_session("s1", reason="ticket 1", requested_by="dpo")
    assert stored(db, "s2") == before
    report = db.verify()
    assert report.ok
    assert [s.session_id for s in report.sessions] == ["s2"]


def test_the_feed_no_longer_serves_a_purged_session(db: KernDb, workflow: Workflow) -> None:
    """Only the other session's events are left in the store-wide feed."""
    db.purge_session("s1", reason="ticket 1", requested_by="dpo")
    feed = db.read_feed(limit=2)
    assert [e.event.session_id for e in feed] == ["s2", "s2"]
    assert {e.event.session_id for e in db.read_feed()} == {"s2"}


def test_a_purged_session_id_can_start_again(db: KernDb, workflow: Workflow) -> None:
    """Nothing of the old log stands in the way of a new session of that id."""
    db.purge_session("s1", reason="ticket 1", requested_by="dpo")
    workflow.run(input="fresh", session_id="s1")
    assert type(db.get_events("s1")[0]).__name__ == "SessionStarted"
    assert db.verify("s1").ok


def test_verify_reports_a_purged_session_as_purged(db: KernDb, workflow: Workflow) -> None:
    """Verifying a purged id is ok with no events, and says when, by whom and why."""
    entry = db.purge_session("s1", reason="ticket 9", requested_by="dpo")
    (checked,) = db.verify("s1").sessions
    assert (checked.ok, checked.events, checked.problem) == (True, 0, None)
    assert checked.purged is not None
    assert entry.erasure_id in checked.purged and "ticket 9" in checked.purged
    assert checked.to_json()["purged"] == checked.purged
    with pytest.raises(SessionNotFoundError):
        db.verify("s1", user_id="alice")


def test_anchors_report_a_purged_session_as_purged_not_missing(
    db: KernDb, workflow: Workflow
) -> None:
    """A session purged after it was anchored is reported purged, and verify passes."""
    anchors = db.anchor(KEY)
    db.purge_session("s1", reason="ticket 9", requested_by="dpo")
    report = db.verify(anchors=anchors, public_key=KEY.public_key())
    assert report.ok
    by_id = {s.session_id: s for s in report.sessions}
    assert by_id["s1"].purged is not None and "ticket 9" in by_id["s1"].purged
    one = db.verify("s1", anchors=anchors, public_key=KEY.public_key())
    assert one.ok and one.sessions[0].purged is not None


def test_anchors_still_find_a_log_cut_short_before_its_purge(
    db: KernDb, workflow: Workflow, tampering: Tampering
) -> None:
    """A purge whose head is older than the anchored one did not remove what was
    anchored: the log had lost its end before, and that stays a finding."""
    anchors = db.anchor(KEY)
    tampering.delete("s1", 9)
    tampered = tampering.fresh()
    entry = tampered.purge_session("s1", reason="ticket 2", requested_by="dpo")
    assert entry.detail["purged_head_version"] == 8
    report = tampered.verify(anchors=anchors, public_key=KEY.public_key())
    assert not report.ok
    (failed,) = report.failed
    assert failed.session_id == "s1" and failed.first_bad_version == 9
    assert failed.problem is not None and "not at or after its anchored head" in failed.problem
    assert "ticket 2" in failed.problem


def test_purge_refuses_bad_input_and_writes_nothing(db: KernDb, workflow: Workflow) -> None:
    """A missing or over-long reason or requester, or a bad id: a typed error, no change."""
    before = stored(db, "s1")
    cases: list[tuple[object, object, object]] = [
        ("s1", "", "dpo"),
        ("s1", "x" * 501, "dpo"),
        ("s1", "ticket", "y" * 201),
        ("s1", "ticket", None),
        ("s1", "two\nlines", "dpo"),
    ]
    for session_id, reason, requested_by in cases:
        with pytest.raises(InvalidInputError):
            db.purge_session(session_id, reason=reason, requested_by=requested_by)  # type: ignore[arg-type]
    with pytest.raises(InvalidSessionIdError):
        db.purge_session("", reason="ticket", requested_by="dpo")
    with pytest.raises(SessionNotFoundError):
        db.purge_session("nobody", reason="ticket", requested_by="dpo")
    assert stored(db, "s1") == before
    assert db.erasures() == []


def test_purge_and_the_ledger_are_refused_on_a_strict_users_store(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest, db: KernDb
) -> None:
    """Both are admin operations."""
    del db  # only for the store kind's setup and teardown
    place = tmp_path / "strict"
    place.mkdir()
    strict = make_db(store_kind, place, request, strict_users=True)
    try:
        with pytest.raises(UserRequiredError):
            strict.purge_session("s1", reason="ticket", requested_by="dpo")
        with pytest.raises(UserRequiredError):
            strict.erasures()
    finally:
        close(strict)


def test_the_ledger_keeps_recorded_erasures_oldest_first(db: KernDb, workflow: Workflow) -> None:
    """record_erasure adds an entry as given; erasures lists by time, then id."""
    later = ErasureEntry("b", datetime(2026, 3, 1, tzinfo=UTC), "retention", "*", 2, {"n": 2})
    earlier = ErasureEntry("a", datetime(2026, 1, 1, tzinfo=UTC), "erase_user", "u1", 1)
    db.store.record_erasure(later)
    db.store.record_erasure(earlier)
    assert db.erasures() == [earlier, later]
    purged = db.purge_session("s1", reason="ticket", requested_by="dpo")
    assert db.erasures() == [earlier, later, purged]
