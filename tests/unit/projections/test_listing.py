"""The session listing: validating get_sessions arguments, and the query over summary rows.

``SessionQuery.apply`` is the reference the stores' SQL must agree with:
filters, the sort (ties broken by session_id), and 1-based paging.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kern.domain.errors import InvalidInputError, InvalidQueryError
from kern.domain.events import (
    RunCompleted,
    RunStarted,
    SessionDeleted,
    SessionRenamed,
    SessionStarted,
)
from kern.domain.values import RunStatus, StoredValue
from kern.projections.listing import SORT_COLUMNS, SessionQuery, SessionSummary, listing_update


def row(
    session_id: str,
    name: str = "",
    *,
    user: str | None = "alice",
    workflow: str | None = "wf",
    created: float = 0.0,
    updated: float | None = None,
    deleted: bool = False,
) -> SessionSummary:
    return SessionSummary(
        session_id=session_id,
        user_id=user,
        workflow_id=workflow,
        workflow_name="Pipeline",
        session_name=name,
        created_at=created,
        updated_at=created if updated is None else updated,
        version=1,
        deleted=deleted,
    )


def ids(rows: list[SessionSummary]) -> list[str]:
    return [r.session_id for r in rows]


def query(rows: list[SessionSummary], **kwargs: Any) -> list[str]:
    return ids(SessionQuery.build(**kwargs).apply(rows))


# -- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"page": 1}, "page"),
        ({"page": 2}, "limit"),
        ({"page": 0, "limit": 10}, "page"),
        ({"page": -1, "limit": 10}, "page"),
        ({"limit": -1}, "limit"),
        ({"sort_order": "ascending"}, "sort_order"),
        ({"sort_order": "up"}, "sort_order"),
        ({"sort_by": "name"}, "sort_by"),
        ({"sort_by": "runs"}, "sort_by"),
    ],
)
def test_rejects_bad_arguments_naming_them(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        SessionQuery.build(**kwargs)
    assert named in str(caught.value)
    assert isinstance(caught.value, InvalidInputError | ValueError)


def test_names_the_bad_value_in_the_message() -> None:
    with pytest.raises(InvalidQueryError, match="'ascending'"):
        SessionQuery.build(sort_order="ascending")
    with pytest.raises(InvalidQueryError, match="'name'"):
        SessionQuery.build(sort_by="name")


@pytest.mark.parametrize(
    ("sort_order", "descending"),
    [(None, True), ("asc", False), ("ASC", False), ("desc", True), ("Desc", True)],
)
def test_reads_sort_order_case_insensitively(sort_order: str | None, descending: bool) -> None:
    assert SessionQuery.build(sort_order=sort_order).descending is descending


@pytest.mark.parametrize("column", SORT_COLUMNS)
def test_accepts_every_sort_column(column: str) -> None:
    assert SessionQuery.build(sort_by=column).sort_by == column


def test_defaults_to_newest_created_first() -> None:
    built = SessionQuery.build()
    assert (built.sort_by, built.descending, built.offset) == ("created_at", True, 0)


@pytest.mark.parametrize(
    ("limit", "page", "offset"), [(10, None, 0), (10, 1, 0), (10, 3, 20), (0, 2, 0)]
)
def test_computes_the_offset_of_a_page(limit: int, page: int | None, offset: int) -> None:
    assert SessionQuery.build(limit=limit, page=page).offset == offset


# -- filtering ----------------------------------------------------------------------


def test_leaves_out_deleted_sessions() -> None:
    assert query([row("a"), row("b", deleted=True)]) == ["a"]


def test_filters_by_user_and_workflow() -> None:
    rows = [row("a", user="alice"), row("b", user="bob"), row("c", user=None, workflow="other")]
    assert query(rows, user_id="alice") == ["a"]
    assert query(rows, workflow_id="other") == ["c"]
    assert sorted(query(rows)) == ["a", "b", "c"]


def test_matches_percent_and_underscore_literally() -> None:
    """Kern fixes: '%' and '_' in session_name are plain characters, not SQL wildcards."""
    rows = [row("done", "100%_done"), row("half", "50%"), row("plain", "100 done"), row("u", "a_b")]
    assert query(rows, session_name="%_") == ["done"]
    assert query(rows, session_name="500") == []
    assert sorted(query(rows, session_name="%")) == ["done", "half"]
    assert sorted(query(rows, session_name="_")) == ["done", "u"]
    assert query(rows, session_name="a%b") == []


@pytest.mark.parametrize(
    ("name", "search"),
    [
        ("ÄRGER im Büro", "ärger"),
        ("ärger", "ÄRGER"),
        ("Straße", "STRASSE"),
        ("AI Trends Q4", "trends q"),
    ],
)
def test_matches_names_case_insensitively(name: str, search: str) -> None:
    assert query([row("a", name)], session_name=search) == ["a"]


def test_matches_the_name_only() -> None:
    """Kern fixes: a search matches the session name, not the user, workflow or id."""
    rows = [row("needle-id", "haystack", user="needle", workflow="needle")]
    assert query(rows, session_name="needle") == []


def test_unnamed_sessions_match_only_the_empty_search() -> None:
    assert query([row("a", "")], session_name="") == ["a"]
    assert query([row("a", "")], session_name="x") == []


def test_filters_created_at_inclusively_to_the_whole_second() -> None:
    rows = [
        row("early", created=99.9),
        row("start", created=100.0),
        row("mid", created=150.0),
        row("end", created=200.7),
        row("late", created=201.0),
    ]
    picked = query(rows, start_timestamp=100, end_timestamp=200, sort_order="asc")
    assert picked == ["start", "mid", "end"]


# -- sorting and paging --------------------------------------------------------------


def test_sorts_by_created_at_newest_first_by_default() -> None:
    rows = [row("b", created=2), row("a", created=1), row("c", created=3)]
    assert query(rows) == ["c", "b", "a"]
    assert query(rows, sort_order="asc") == ["a", "b", "c"]


def test_breaks_ties_by_session_id_in_the_same_direction() -> None:
    rows = [row("b", created=1), row("a", created=1), row("c", created=1)]
    assert query(rows, sort_order="asc") == ["a", "b", "c"]
    assert query(rows, sort_order="desc") == ["c", "b", "a"]


def test_sorts_missing_values_first_when_ascending() -> None:
    rows = [row("a", user="zed"), row("b", user=None), row("c", user="amy")]
    assert query(rows, sort_by="user_id", sort_order="asc") == ["b", "c", "a"]
    assert query(rows, sort_by="user_id", sort_order="desc") == ["a", "c", "b"]


def test_sorts_by_updated_at_and_name() -> None:
    rows = [row("a", "beta", updated=5), row("b", "alpha", updated=9)]
    assert query(rows, sort_by="updated_at") == ["b", "a"]
    assert query(rows, sort_by="session_name", sort_order="asc") == ["b", "a"]


@pytest.mark.parametrize(
    ("limit", "page", "expected"),
    [
        (2, None, ["s0", "s1"]),
        (2, 1, ["s0", "s1"]),
        (2, 2, ["s2", "s3"]),
        (2, 3, ["s4"]),
        (2, 4, []),
        (10, 1, ["s0", "s1", "s2", "s3", "s4"]),
        (0, None, []),
    ],
)
def test_pages_are_one_based(limit: int, page: int | None, expected: list[str]) -> None:
    rows = [row(f"s{i}", created=i) for i in range(5)]
    assert query(rows, limit=limit, page=page, sort_order="asc") == expected


@given(
    created=st.lists(st.integers(0, 5), min_size=0, max_size=12),
    limit=st.integers(1, 5),
)
def test_pages_partition_the_listing(created: list[int], limit: int) -> None:
    """Walking the pages visits every row exactly once, in the unpaged order."""
    rows = [row(f"s{i:02d}", created=c) for i, c in enumerate(created)]
    everything = query(rows)
    pages: list[str] = []
    for page in range(1, len(rows) // limit + 2):
        pages += query(rows, limit=limit, page=page)
    assert pages == everything
    assert sorted(everything) == sorted(r.session_id for r in rows)


# -- index columns from appended batches ---------------------------------------------

T0 = datetime(2024, 11, 19, 14, 30, tzinfo=UTC)


def test_listing_update_for_a_start_batch_sets_every_column() -> None:
    started = SessionStarted(
        session_id="s",
        version=1,
        timestamp=T0,
        user_id="alice",
        workflow_id="wf",
        workflow_name="Pipeline",
    )
    run_started = RunStarted(
        session_id="s",
        version=2,
        timestamp=T0 + timedelta(seconds=1.5),
        user_id="alice",
        run_id="r",
        input=StoredValue.of("hi"),
    )
    assert listing_update([started, run_started]) == {
        "session_id": "s",
        "version": 2,
        "updated_at": T0.timestamp() + 1.5,
        "user_id": "alice",
        "workflow_id": "wf",
        "workflow_name": "Pipeline",
        "session_name": "",
        "created_at": T0.timestamp(),
        "deleted": False,
    }


def test_listing_update_for_a_rename_sets_the_name() -> None:
    renamed = [
        SessionRenamed(session_id="s", version=7, timestamp=T0, session_name="first"),
        SessionRenamed(
            session_id="s",
            version=8,
            timestamp=T0 + timedelta(seconds=2),
            session_name="Q4",
            autogenerated=True,
        ),
    ]
    assert listing_update(renamed) == {
        "session_id": "s",
        "version": 8,
        "updated_at": T0.timestamp() + 2,
        "session_name": "Q4",
    }


def test_listing_update_for_a_delete_marks_the_row() -> None:
    tombstone = SessionDeleted(session_id="s", version=9, timestamp=T0)
    assert listing_update([tombstone]) == {
        "session_id": "s",
        "version": 9,
        "updated_at": T0.timestamp(),
        "deleted": True,
    }


def test_listing_update_for_a_run_touches_only_version_and_time() -> None:
    done = RunCompleted(
        session_id="s", version=4, timestamp=T0, run_id="r", status=RunStatus.completed
    )
    assert listing_update([done]) == {"session_id": "s", "version": 4, "updated_at": T0.timestamp()}
