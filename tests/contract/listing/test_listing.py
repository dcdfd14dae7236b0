"""Contract: ``get_sessions`` filters, pages and sorts the same on every store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time

from kern.db import KernDb
from kern.errors import InvalidQueryError
from kern.session import WorkflowSession
from kern.workflow import Workflow

MakeWorkflow = Callable[..., Workflow]

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)
T0_SECONDS = int(T0.timestamp())


def at(offset: float) -> str:
    """The ISO time ``offset`` seconds after T0, for freeze_time."""
    return datetime.fromtimestamp(T0_SECONDS + offset, tz=UTC).isoformat()


def start_session(
    workflow: Workflow, session_id: str, offset: float = 0, name: str | None = None, **kw: Any
) -> None:
    """Run once in ``session_id`` at T0 + offset seconds, then name it if asked."""
    with freeze_time(at(offset)):
        workflow.run(input="hi", session_id=session_id, **kw)
        if name is not None:
            workflow.set_session_name(session_id=session_id, session_name=name)


def ids(sessions: Sequence[WorkflowSession]) -> list[str]:
    return [session.session_id for session in sessions]


# -- filters -------------------------------------------------------------------------


def test_lists_every_live_session_newest_first_by_default(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    for offset, sid in enumerate(["a", "b", "c"]):
        start_session(workflow, sid, offset)
    assert ids(db.get_sessions()) == ["c", "b", "a"]


def test_listed_sessions_are_whole_read_models(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    start_session(workflow, "a", name="Alpha")
    (listed,) = db.get_sessions()
    assert listed == workflow.get_session(session_id="a")


def test_filters_by_user_id(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    start_session(workflow, "a1", 0, user_id="alice")
    start_session(workflow, "b1", 1, user_id="bob")
    start_session(workflow, "a2", 2, user_id="alice")
    assert ids(db.get_sessions(user_id="alice")) == ["a2", "a1"]
    assert ids(db.get_sessions(user_id="bob")) == ["b1"]
    assert db.get_sessions(user_id="carol") == []


def test_filters_by_workflow_id(db: KernDb, make_workflow: MakeWorkflow) -> None:
    start_session(make_workflow(id="reports"), "r1", 0)
    start_session(make_workflow(id="digests"), "d1", 1)
    start_session(make_workflow(id="reports"), "r2", 2)
    assert ids(db.get_sessions(workflow_id="reports")) == ["r2", "r1"]
    assert ids(db.get_sessions(workflow_id="digests")) == ["d1"]


def test_filters_by_session_name_substring_ignoring_case(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    start_session(workflow, "q4", 0, name="AI Trends Analysis Q4 2024")
    start_session(workflow, "q3", 1, name="ai trends q3")
    start_session(workflow, "other", 2, name="Weekly digest")
    start_session(workflow, "unnamed", 3)
    assert ids(db.get_sessions(session_name="TRENDS")) == ["q3", "q4"]
    assert ids(db.get_sessions(session_name="analysis q4")) == ["q4"]
    assert db.get_sessions(session_name="monthly") == []


def test_session_name_filter_takes_percent_and_underscore_literally(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    """Kern fixes: no Agno adapter escapes % and _ in the session_name filter."""
    workflow = make_workflow()
    start_session(workflow, "pct", 0, name="Done 100% today")
    start_session(workflow, "no-pct", 1, name="Done 100 today")
    start_session(workflow, "snake", 2, name="snake_case report")
    start_session(workflow, "spaced", 3, name="snake case report")
    assert ids(db.get_sessions(session_name="100%")) == ["pct"]
    assert ids(db.get_sessions(session_name="%")) == ["pct"]
    assert ids(db.get_sessions(session_name="e_c")) == ["snake"]
    assert ids(db.get_sessions(session_name="_")) == ["snake"]


def test_session_name_filter_matches_the_name_only(db: KernDb, make_workflow: MakeWorkflow) -> None:
    """Kern fixes: Agno's SQLite matches the filter against the whole session JSON."""
    workflow = make_workflow()
    start_session(workflow, "zebra-session", 0, name="Alpha", session_state={"animal": "zebra"})
    assert db.get_sessions(session_name="zebra") == []
    assert db.get_sessions(session_name="session_state") == []
    assert db.get_sessions(session_name="Test Pipeline") == []
    assert db.get_sessions(session_name="hi") == []
    assert ids(db.get_sessions(session_name="alpha")) == ["zebra-session"]


def test_filters_by_created_at_with_both_ends_inclusive(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    start_session(workflow, "early", 0)
    start_session(workflow, "middle", 10)
    start_session(workflow, "late", 20)
    mid, late = T0_SECONDS + 10, T0_SECONDS + 20
    assert ids(db.get_sessions(start_timestamp=mid)) == ["late", "middle"]
    assert ids(db.get_sessions(end_timestamp=mid)) == ["middle", "early"]
    assert ids(db.get_sessions(start_timestamp=mid, end_timestamp=mid)) == ["middle"]
    assert ids(db.get_sessions(start_timestamp=mid, end_timestamp=late)) == ["late", "middle"]
    assert db.get_sessions(start_timestamp=mid + 1, end_timestamp=late - 1) == []


def test_end_timestamp_covers_its_whole_second(db: KernDb, make_workflow: MakeWorkflow) -> None:
    """A session started at .4 s past a second has that second as its created_at."""
    workflow = make_workflow()
    start_session(workflow, "fraction", 5.4)
    (session,) = db.get_sessions(end_timestamp=T0_SECONDS + 5)
    assert session.created_at == T0_SECONDS + 5
    assert db.get_sessions(end_timestamp=T0_SECONDS + 4) == []


def test_time_range_filters_on_created_at_not_updated_at(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    start_session(workflow, "old", 0)
    with freeze_time(at(100)):
        workflow.run(input="later", session_id="old")
    assert db.get_sessions(start_timestamp=T0_SECONDS + 50) == []


def test_filters_combine(db: KernDb, make_workflow: MakeWorkflow) -> None:
    reports = make_workflow(id="reports")
    start_session(reports, "alice-report", 0, name="Report", user_id="alice")
    start_session(reports, "bob-report", 1, name="Report", user_id="bob")
    start_session(make_workflow(id="digests"), "alice-digest", 2, name="Report", user_id="alice")
    found = db.get_sessions(user_id="alice", workflow_id="reports", session_name="report")
    assert ids(found) == ["alice-report"]


def test_deleted_sessions_are_not_listed(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    start_session(workflow, "kept", 0, name="Report")
    start_session(workflow, "gone", 1, name="Report")
    workflow.delete_session(session_id="gone")
    assert ids(db.get_sessions()) == ["kept"]
    assert ids(db.get_sessions(session_name="report")) == ["kept"]


# -- paging and sorting ------------------------------------------------------------------


@pytest.fixture
def five_sessions(make_workflow: MakeWorkflow) -> Workflow:
    """Sessions s0..s4 started one second apart and named in reverse order."""
    workflow = make_workflow()
    for i in range(5):
        start_session(workflow, f"s{i}", i, name=f"name {4 - i}")
    return workflow


def test_limit_and_one_based_page(db: KernDb, five_sessions: Workflow) -> None:
    assert ids(db.get_sessions(limit=2, sort_order="asc")) == ["s0", "s1"]
    assert ids(db.get_sessions(limit=2, page=1, sort_order="asc")) == ["s0", "s1"]
    assert ids(db.get_sessions(limit=2, page=2, sort_order="asc")) == ["s2", "s3"]
    assert ids(db.get_sessions(limit=2, page=3, sort_order="asc")) == ["s4"]
    assert db.get_sessions(limit=2, page=4, sort_order="asc") == []
    assert ids(db.get_sessions(limit=2, page=1)) == ["s4", "s3"]


def test_sorts_by_created_at(db: KernDb, five_sessions: Workflow) -> None:
    assert ids(db.get_sessions(sort_by="created_at", sort_order="asc")) == [
        "s0",
        "s1",
        "s2",
        "s3",
        "s4",
    ]
    assert ids(db.get_sessions(sort_by="created_at", sort_order="desc")) == [
        "s4",
        "s3",
        "s2",
        "s1",
        "s0",
    ]


def test_sort_order_is_case_insensitive(db: KernDb, five_sessions: Workflow) -> None:
    assert ids(db.get_sessions(sort_order="ASC", limit=1)) == ["s0"]
    assert ids(db.get_sessions(sort_order="Desc", limit=1)) == ["s4"]


def test_sorts_by_session_name(db: KernDb, five_sessions: Workflow) -> None:
    assert ids(db.get_sessions(sort_by="session_name", sort_order="asc")) == [
        "s4",
        "s3",
        "s2",
        "s1",
        "s0",
    ]
    assert ids(db.get_sessions(sort_by="session_name", sort_order="desc")) == [
        "s0",
        "s1",
        "s2",
        "s3",
        "s4",
    ]


def test_sorts_by_updated_at(db: KernDb, five_sessions: Workflow) -> None:
    with freeze_time(at(60)):
        five_sessions.run(input="again", session_id="s1")
    with freeze_time(at(70)):
        five_sessions.update_session_state({"touched": True}, session_id="s3")
    by_update = ids(db.get_sessions(sort_by="updated_at", sort_order="desc"))
    assert by_update == ["s3", "s1", "s4", "s2", "s0"]
    assert ids(db.get_sessions(sort_by="updated_at", sort_order="asc")) == by_update[::-1]


def test_page_applies_after_sorting_and_filtering(db: KernDb, five_sessions: Workflow) -> None:
    found = db.get_sessions(
        start_timestamp=T0_SECONDS + 1, sort_by="session_name", sort_order="asc", limit=2, page=2
    )
    assert ids(found) == ["s2", "s1"]


# -- refused queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"page": 1},
        {"limit": 2, "page": 0},
        {"sort_order": "up"},
        {"sort_by": "colour"},
        {"sort_by": "session_data"},
    ],
)
def test_refuses_a_bad_query_and_records_nothing(
    db: KernDb, five_sessions: Workflow, query: dict[str, Any]
) -> None:
    logs = {sid: db.get_events(sid) for sid in ("s0", "s1", "s2", "s3", "s4")}
    with pytest.raises(InvalidQueryError):
        db.get_sessions(**query)
    assert {sid: db.get_events(sid) for sid in logs} == logs


def test_workflow_get_sessions_lists_through_its_db(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow(user_id="alice")
    start_session(workflow, "mine", 0)
    start_session(make_workflow(), "theirs", 1, user_id="bob")
    assert ids(workflow.get_sessions()) == ["mine"]
    assert ids(db.get_sessions()) == ["theirs", "mine"]
