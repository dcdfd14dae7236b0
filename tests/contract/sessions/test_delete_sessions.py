"""db.delete_sessions(ids, user_id=): Agno's bulk delete, scoped to the caller."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.errors import InvalidSessionIdError
from kern.workflow import Workflow

MakeWorkflow = Callable[..., Workflow]


@pytest.fixture
def sessions(make_workflow: MakeWorkflow) -> None:
    """a1 and a2 are alice's, b1 is bob's."""
    workflow = make_workflow()
    for session_id, user in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        workflow.run(input="hi", session_id=session_id, user_id=user)


def live(db: KernDb) -> list[str]:
    return sorted(s.session_id for s in db.get_sessions())


def test_deletes_only_the_callers_own_and_counts_them(db: KernDb, sessions: None) -> None:
    """Bob's session and an unknown id in the list are left alone, as Agno does."""
    assert db.delete_sessions(["a1", "b1", "never-existed"], user_id="alice") == 1
    assert live(db) == ["a2", "b1"]
    assert db.delete_sessions(["a1", "a2"], user_id="alice") == 1  # a1 was gone already
    assert live(db) == ["b1"]


def test_an_unscoped_caller_deletes_every_listed_session(db: KernDb, sessions: None) -> None:
    assert db.delete_sessions(["a1", "b1"]) == 2
    assert live(db) == ["a2"]


@pytest.mark.parametrize(
    "ids", ["a1", ["a1", ""], ["a1", None]], ids=["a-string", "empty-id", "none-id"]
)
def test_a_bad_id_deletes_nothing(db: KernDb, sessions: None, ids: object) -> None:
    """Every id is checked before any session is deleted."""
    before = {sid: len(db.get_events(sid)) for sid in ("a1", "a2", "b1")}
    with pytest.raises(InvalidSessionIdError):
        db.delete_sessions(ids, user_id="alice")  # type: ignore[arg-type]
    assert {sid: len(db.get_events(sid)) for sid in ("a1", "a2", "b1")} == before
