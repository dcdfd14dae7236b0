"""Verifying untouched logs: every store's chains check out, session by session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.domain.chain import SessionVerification
from kern.errors import InvalidSessionIdError, SessionNotFoundError
from kern.workflow import Workflow
from tests.contract.audit.conftest import run_twice


def test_a_clean_session_verifies(db: KernDb, make_workflow: Callable[..., Workflow]) -> None:
    run_twice(make_workflow())

    report = db.verify("s1")

    assert report.ok
    assert report.sessions == [SessionVerification("s1", ok=True, events=9)]
    assert report.failed == []


def test_every_session_verifies_deleted_ones_included(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    workflow = make_workflow()
    for session_id in ("a", "b", "c"):
        run_twice(workflow, session_id)
    db.rename_session("b", "Renamed")
    db.update_session_state("b", {"topic": "audit"})
    db.delete_session("c")

    report = db.verify()

    assert report.ok
    assert [(s.session_id, s.ok, s.events) for s in report.sessions] == [
        ("a", True, 9),
        ("b", True, 11),
        ("c", True, 10),
    ]


def test_progress_is_reported_per_session(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    workflow = make_workflow()
    for session_id in ("a", "b", "c"):
        workflow.run(input="x", session_id=session_id)
    calls: list[tuple[int, int]] = []

    db.verify(progress=lambda done, total: calls.append((done, total)))

    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_progress_for_one_session_counts_that_session(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    make_workflow().run(input="x", session_id="s1")
    calls: list[tuple[int, int]] = []

    db.verify("s1", progress=lambda done, total: calls.append((done, total)))

    assert calls == [(0, 1), (1, 1)]


def test_an_empty_store_verifies(db: KernDb) -> None:
    report = db.verify()
    assert report.ok
    assert report.sessions == []


def test_verifying_an_unknown_session_is_an_error(db: KernDb) -> None:
    with pytest.raises(SessionNotFoundError, match="'nope'") as raised:
        db.verify("nope")
    assert raised.value.session_id == "nope"


def test_verifying_needs_a_real_session_id(db: KernDb) -> None:
    with pytest.raises(InvalidSessionIdError):
        db.verify("")


def test_report_has_a_json_form(db: KernDb, make_workflow: Callable[..., Workflow]) -> None:
    make_workflow().run(input="x", session_id="s1")
    assert db.verify().to_json() == {
        "ok": True,
        "sessions": [
            {
                "session_id": "s1",
                "ok": True,
                "events": 5,
                "first_bad_version": None,
                "problem": None,
            }
        ],
    }
