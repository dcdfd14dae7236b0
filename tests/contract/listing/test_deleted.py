"""Contract: ``get_deleted_sessions`` lists deleted sessions, most recently deleted
first, scoped by user, the same on every store."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from freezegun import freeze_time

from kern.db import KernDb
from kern.errors import InvalidQueryError
from kern.session import DeletedSession
from kern.workflow import Workflow
from tests.contract.listing.test_listing import T0_SECONDS, at, start_session

MakeWorkflow = Callable[..., Workflow]


def delete_at(workflow: Workflow, session_id: str, offset: float) -> None:
    with freeze_time(at(offset)):
        assert workflow.delete_session(session_id=session_id)


@pytest.fixture
def three_deleted(make_workflow: MakeWorkflow) -> Workflow:
    """a (alice), b (bob) and c (alice) deleted in the order b, c, a; d (alice) live."""
    workflow = make_workflow()
    for offset, (sid, user) in enumerate([("a", "alice"), ("b", "bob"), ("c", "alice")]):
        start_session(workflow, sid, offset, name=f"Session {sid}", user_id=user)
    start_session(workflow, "d", 3, user_id="alice")
    for offset, sid in zip((10, 11, 12), "bca", strict=True):
        delete_at(workflow, sid, offset)
    return workflow


def test_lists_deleted_sessions_most_recently_deleted_first(
    db: KernDb, three_deleted: Workflow
) -> None:
    deleted = db.get_deleted_sessions()
    assert [d.session_id for d in deleted] == ["a", "c", "b"]
    assert deleted[0] == DeletedSession(
        session_id="a",
        user_id="alice",
        workflow_id=three_deleted.id,
        workflow_name=three_deleted.name,
        session_name="Session a",
        created_at=float(T0_SECONDS),
        deleted_at=float(T0_SECONDS + 12),
        version=len(db.get_log("a")),
    )
    assert [s.session_id for s in db.get_sessions()] == ["d"]


def test_deleted_at_is_the_tombstones_moment(db: KernDb, three_deleted: Workflow) -> None:
    for deleted in db.get_deleted_sessions():
        tombstone = db.get_log(deleted.session_id)[-1]
        assert tombstone.event_type == "SessionDeleted"
        assert deleted.deleted_at == tombstone.timestamp.timestamp()
        assert deleted.version == tombstone.version


def test_a_user_sees_only_their_deleted_sessions(db: KernDb, three_deleted: Workflow) -> None:
    assert [d.session_id for d in db.get_deleted_sessions(user_id="alice")] == ["a", "c"]
    assert [d.session_id for d in db.get_deleted_sessions(user_id="bob")] == ["b"]
    assert db.get_deleted_sessions(user_id="carol") == []


def test_filters_by_workflow_and_pages(
    db: KernDb, three_deleted: Workflow, make_workflow: MakeWorkflow
) -> None:
    other = make_workflow(name="Other Pipeline")
    start_session(other, "x", 20)
    delete_at(other, "x", 21)
    assert [d.session_id for d in db.get_deleted_sessions(workflow_id=other.id)] == ["x"]
    pages = [db.get_deleted_sessions(limit=2, page=page) for page in (1, 2, 3)]
    assert [[d.session_id for d in page] for page in pages] == [["x", "a"], ["c", "b"], []]


def test_no_deleted_sessions_lists_nothing(db: KernDb, make_workflow: MakeWorkflow) -> None:
    start_session(make_workflow(), "live")
    assert db.get_deleted_sessions() == []


def test_refuses_a_page_without_a_limit(db: KernDb) -> None:
    with pytest.raises(InvalidQueryError, match="page needs a limit"):
        db.get_deleted_sessions(page=2)
