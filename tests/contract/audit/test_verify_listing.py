"""Verify checks the listing row against the log, and honours ``user_id``.

The listing row is written in the same transaction as the events; an
attacker with SQL access can change either. These tests change them as such
an attacker would (dropping or disabling the append-only triggers) and expect
verify to name the session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.errors import SessionNotFoundError
from kern.workflow import Workflow
from tests.contract.audit.conftest import Tampering, run_twice


@pytest.fixture
def owned(db: KernDb, make_workflow: Callable[..., Workflow]) -> list[str]:
    """s1 (alice, versions 1-9), s2 (bob, versions 1-9), s3 (alice, deleted at version 10)."""
    run_twice(make_workflow(user_id="alice"), "s1")
    run_twice(make_workflow(user_id="bob"), "s2")
    run_twice(make_workflow(user_id="alice"), "s3")
    db.delete_session("s3", user_id="alice")
    return ["s1", "s2", "s3"]


def failure(db: KernDb, session_id: str) -> tuple[int | None, str]:
    (result,) = db.verify(session_id).sessions
    assert not result.ok, result
    assert result.problem is not None
    return result.first_bad_version, result.problem


# -- 10. the listing row against the log ----------------------------------------


def test_untouched_rows_verify(db: KernDb, owned: list[str], tampering: Tampering) -> None:
    assert tampering.fresh().verify().ok


def test_finds_a_truncated_log_whose_row_version_was_fixed(
    owned: list[str], tampering: Tampering
) -> None:
    tampering.delete("s1", 9)
    tampering.delete("s1", 8)
    tampering.set_row("s1", version=7)

    version, problem = failure(tampering.fresh(), "s1")
    assert version == 7
    assert problem.startswith("the listing row does not match the log: its updated_at")


def test_finds_a_deleted_tombstone_that_undeleted_the_session(
    owned: list[str], tampering: Tampering
) -> None:
    tampering.delete("s3", 10)
    tampering.set_row("s3", version=9, deleted=False)

    version, problem = failure(tampering.fresh(), "s3")
    assert version == 9
    assert "the listing row does not match the log" in problem


def test_finds_a_row_whose_deleted_flag_was_cleared(owned: list[str], tampering: Tampering) -> None:
    tampering.set_row("s3", deleted=False)

    assert failure(tampering.fresh(), "s3") == (
        10,
        "the listing row does not match the log: its deleted is False, the log's is True",
    )


def test_finds_a_row_handed_to_another_user(owned: list[str], tampering: Tampering) -> None:
    tampering.set_row("s1", user_id="mallory")
    fresh = tampering.fresh()

    assert failure(fresh, "s1") == (
        1,
        "the listing row does not match the log: its user_id is 'mallory', the log's is 'alice'",
    )
    assert [s.session_id for s in fresh.verify().failed] == ["s1"]


@pytest.mark.parametrize(
    ("column", "value"),
    [("version", 5), ("workflow_id", "other"), ("created_at", 0.0), ("session_name", "x")],
)
def test_finds_any_other_column_changed(
    owned: list[str], tampering: Tampering, column: str, value: object
) -> None:
    tampering.set_row("s2", **{column: value})
    _, problem = failure(tampering.fresh(), "s2")
    assert f"its {column} is {value!r}" in problem


# -- 9. verify honours user_id ------------------------------------------------------


def test_another_users_session_verifies_as_missing(db: KernDb, owned: list[str]) -> None:
    with pytest.raises(SessionNotFoundError, match="'s2'"):
        db.verify("s2", user_id="alice")
    assert db.verify("s2", user_id="bob").ok


def test_verify_of_all_for_a_user_covers_only_theirs(db: KernDb, owned: list[str]) -> None:
    report = db.verify(user_id="alice")
    assert [s.session_id for s in report.sessions] == ["s1", "s3"]
    assert db.verify(user_id="nobody").sessions == []


def test_a_user_scoped_verify_goes_by_the_log_not_the_row(
    owned: list[str], tampering: Tampering
) -> None:
    """A row handed to mallory neither shows mallory the session nor hides it
    from alice, whose verify reports the change."""
    tampering.set_row("s1", user_id="mallory")
    fresh = tampering.fresh()
    assert fresh.verify(user_id="mallory").sessions == []
    assert [s.session_id for s in fresh.verify(user_id="alice").failed] == ["s1"]
