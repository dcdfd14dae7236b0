"""Tamper evidence: edits made directly in the database, bypassing Kern and its
append-only guard, are found by verify at the version they touched.

Each test verifies through a fresh KernDb over the same database, so no cache
of the writer can hide a change.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.workflow import Workflow
from tests.contract.audit.conftest import Tampering, run_twice
from tests.contract.kinds import STORED_BYTES


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Session s1 with two runs (versions 1-9) and an untouched session s2."""
    workflow = make_workflow()
    run_twice(workflow, "s1")
    run_twice(workflow, "s2")
    return workflow


def first_problem(db: KernDb, session_id: str = "s1") -> tuple[int | None, str]:
    (result,) = db.verify(session_id).sessions
    assert not result.ok
    assert result.problem is not None
    return result.first_bad_version, result.problem


def test_the_untampered_log_verifies_on_a_fresh_db(
    workflow: Workflow, tampering: Tampering
) -> None:
    assert tampering.fresh().verify().ok


@STORED_BYTES
def test_finds_one_changed_byte_in_a_stored_payload(
    workflow: Workflow, tampering: Tampering
) -> None:
    """ "echo: hello" becomes "echo: jello" inside the stored bytes of version 3."""
    tampering.edit("s1", 3, lambda state: state.replace(b"echo: hello", b"echo: jello"))

    version, problem = first_problem(tampering.fresh())

    assert version == 3
    assert problem.startswith("content changed")


def test_finds_a_deleted_event(workflow: Workflow, tampering: Tampering) -> None:
    tampering.delete("s1", 4)

    version, problem = first_problem(tampering.fresh())

    assert version == 4
    assert problem == "missing event: version 4 is absent (the log goes from version 3 to 5)"


def test_finds_events_deleted_from_the_end_of_a_log(
    workflow: Workflow, tampering: Tampering
) -> None:
    """The chain of what is left still holds; the listing written with each
    append remembers how long the log was."""
    tampering.delete("s1", 9)
    tampering.delete("s1", 8)

    version, problem = first_problem(tampering.fresh())

    assert version == 8
    assert problem == (
        "missing event: the log ends at version 7 but the listing recorded version 9"
    )


def test_finds_a_deleted_first_event(workflow: Workflow, tampering: Tampering) -> None:
    tampering.delete("s1", 1)

    version, problem = first_problem(tampering.fresh())

    assert version == 1
    assert problem.startswith("missing event: version 1 is absent")


@pytest.mark.parametrize(("first", "second"), [(3, 7), (3, 4), (2, 8)])
def test_finds_two_swapped_events(
    workflow: Workflow, tampering: Tampering, first: int, second: int
) -> None:
    """Topic and state of two versions exchanged: the earlier one is reported."""
    tampering.swap("s1", first, second)

    version, problem = first_problem(tampering.fresh())

    assert version == first
    assert problem == (
        f"order changed: the event that belongs at version {first} is stored at version {second}"
    )


def test_finds_an_edited_hash(workflow: Workflow, tampering: Tampering) -> None:
    """The content is intact but its stored hash was rewritten."""
    stored_hash = tampering.record("s1", 5).state[-66:-2]
    forged = bytes(reversed(stored_hash))

    tampering.edit("s1", 5, lambda state: state.replace(stored_hash, forged))

    version, problem = first_problem(tampering.fresh())
    assert version == 5
    assert problem.startswith("hash changed")


def test_finds_an_edited_hash_of_the_last_event(workflow: Workflow, tampering: Tampering) -> None:
    stored_hash = tampering.record("s1", 9).state[-66:-2]

    tampering.edit("s1", 9, lambda state: state.replace(stored_hash, b"0" * 64))

    version, problem = first_problem(tampering.fresh())
    assert version == 9
    assert "hash" in problem


def test_finds_bytes_that_mean_the_same_but_are_not_canonical(
    workflow: Workflow, tampering: Tampering
) -> None:
    """An added space changes no value, so the hash still matches; the bytes do not."""
    tampering.edit("s1", 6, lambda state: state.replace(b'"run_id":', b'"run_id": ', 1))

    version, problem = first_problem(tampering.fresh())

    assert version == 6
    assert "canonical encoding" in problem


def test_finds_an_unreadable_payload(workflow: Workflow, tampering: Tampering) -> None:
    tampering.edit("s1", 2, lambda state: state[:-1])

    version, problem = first_problem(tampering.fresh())

    assert version == 2
    assert problem.startswith("unreadable")


def test_finds_a_changed_topic(workflow: Workflow, tampering: Tampering) -> None:
    record = tampering.record("s1", 8)
    tampering.tamper.rewrite("s1", 8, "kern.domain.events:StepCompletedX", bytes(record.state))

    version, problem = first_problem(tampering.fresh())

    assert version == 8
    assert problem.startswith("unreadable") and "StepCompletedX" in problem


@STORED_BYTES
def test_verifying_every_session_singles_out_the_tampered_one(
    workflow: Workflow, tampering: Tampering
) -> None:
    tampering.edit("s1", 7, lambda state: state.replace(b"echo: again", b"echo: agaim"))

    report = tampering.fresh().verify()

    assert not report.ok
    assert [(s.session_id, s.ok, s.first_bad_version) for s in report.sessions] == [
        ("s1", False, 7),
        ("s2", True, None),
    ]
    assert [s.session_id for s in report.failed] == ["s1"]


def test_finds_a_session_whose_events_were_all_deleted(
    workflow: Workflow, tampering: Tampering
) -> None:
    """The listing still names the session, so its empty log is reported, not skipped."""
    for version in range(1, 10):
        tampering.delete("s1", version)

    fresh = tampering.fresh()

    assert first_problem(fresh) == (1, "missing event: the session has no stored events")
    assert [(s.session_id, s.ok) for s in fresh.verify().sessions] == [("s1", False), ("s2", True)]
