"""get_sessions is served by the index table through its indexes, and agrees with the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from kern.application.ports import AppendConflict
from kern.db.postgres import PostgresDb
from kern.domain.values import StateChanges
from kern.projections.listing import SessionQuery
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL
from tests.postgres.conftest import qualified, store_of

Admin = psycopg.Connection[Any]

SESSIONS = 4000
T0 = 1_700_000_000
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}

# Deterministic, skewed like real traffic: a few heavy users and workflows,
# many light ones (user-0 has ~1100 sessions, user-49 ~25; wf-0 the most, wf-9 ~200).
FILL = """
INSERT INTO {idx} (session_id, user_id, workflow_id, workflow_name, session_name,
                   session_name_key, created_at, updated_at, version, deleted)
SELECT 'session-' || g,
       'user-' || floor(50 * power((g * 7919 % 1000) / 1000.0, 3))::int,
       'wf-' || floor(10 * power((g * 104729 % 997) / 997.0, 2))::int,
       'Pipeline', 'Session ' || g, 'session ' || g,
       {t0} + g, {t0} + g + 0.5, 4, g % 17 = 0
FROM generate_series(1, {n}) AS g
"""


@pytest.fixture
def filled(pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str) -> PostgresDb:
    """A store whose index holds a few thousand sessions, analysed."""
    pgdb.get_sessions()  # creates the tables
    idx = qualified(postgres_schema, f"{table}_index")
    admin.execute(sql.SQL(FILL).format(idx=idx, t0=T0, n=SESSIONS))
    admin.execute(sql.SQL("ANALYZE {}").format(idx))
    return pgdb


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def plan_of(db: PostgresDb, admin: Admin, **filters: Any) -> list[dict[str, Any]]:
    """The nodes of the plan PostgreSQL makes for what get_sessions(**filters) asks."""
    statement, params = store_of(db).listing_sql(SessionQuery.build(**filters))
    row = admin.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, params).fetchone()
    assert row is not None
    return list(plan_nodes(row[0][0]["Plan"]))


def indexes_scanned(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Index Name"] for node in nodes if node["Node Type"] in INDEX_SCANS}


QUERIES = {
    "light-user-newest-first": ({"user_id": "user-49", "limit": 20}, "user"),
    "workflow": ({"workflow_id": "wf-9"}, "workflow"),
    "all-by-update-oldest-first": (
        {"sort_by": "updated_at", "sort_order": "asc", "limit": 20},
        "updated",
    ),
    "all-newest-first": ({"limit": 20}, "created"),
    "time-range": (
        {"start_timestamp": T0 + 1000, "end_timestamp": T0 + 2000, "limit": 20},
        "created",
    ),
    "time-range-second-page": (
        {"start_timestamp": T0 + 1000, "end_timestamp": T0 + 2000, "limit": 20, "page": 2},
        "created",
    ),
}


@pytest.mark.parametrize(("filters", "index"), QUERIES.values(), ids=QUERIES.keys())
def test_listing_query_uses_the_matching_index_and_no_seq_scan(
    filled: PostgresDb, admin: Admin, table: str, filters: dict[str, Any], index: str
) -> None:
    nodes = plan_of(filled, admin, **filters)
    assert f"{table}_index_{index}" in indexes_scanned(nodes)
    assert not [node for node in nodes if node["Node Type"] == "Seq Scan"]


def test_heaviest_user_is_still_served_by_an_index(
    filled: PostgresDb, admin: Admin, table: str
) -> None:
    """For a user with a quarter of all sessions, walking the created_at index
    backward finds the newest 20 soonest; either way, no table scan."""
    nodes = plan_of(filled, admin, user_id="user-0", limit=20)
    assert indexes_scanned(nodes) & {f"{table}_index_user", f"{table}_index_created"}
    assert not [node for node in nodes if node["Node Type"] == "Seq Scan"]


def test_listing_sql_returns_what_get_sessions_promises(filled: PostgresDb, admin: Admin) -> None:
    """The statement under test is the one serving listings: it pages and sorts as documented."""
    statement, params = store_of(filled).listing_sql(
        SessionQuery.build(user_id="user-49", limit=5, page=2)
    )
    rows = admin.execute(statement, params).fetchall()
    ids = [row[0] for row in rows]
    everything = filled.store.list_sessions(SessionQuery.build(user_id="user-49"))
    assert ids == [summary.session_id for summary in everything][5:10]
    created = [summary.created_at for summary in everything]
    assert created == sorted(created, reverse=True)


# -- the index agrees with the log --------------------------------------------------------------


def index_rows(admin: Admin, schema: str, table: str) -> dict[str, dict[str, Any]]:
    cursor = admin.cursor(row_factory=dict_row)
    rows = cursor.execute(
        sql.SQL("SELECT * FROM {}").format(qualified(schema, f"{table}_index"))
    ).fetchall()
    return {row["session_id"]: row for row in rows}


@pytest.fixture
def sessions(pgdb: PostgresDb) -> PostgresDb:
    """A few sessions made by running workflows: two users, two workflows, names, a deletion."""
    triage = Workflow(name="Triage", db=pgdb, steps=[..., ...])
    report = Workflow(name="Report", db=pgdb, steps=[...])
    triage.run(input="a", session_id="ann-1", user_id="ann")
    triage.run(input="b", session_id="ann-1", user_id="ann")
    report.run(input="c", session_id="ann-2", user_id="ann")
    report.run(input="d", session_id="bob-1", user_id="bob")
    triage.run(input="e", session_id="bob-2", user_id="bob")
    triage.set_session_name(session_id="ann-1", session_name="Ticket 42")
    report.set_session_name(session_id="bob-1", session_name="Weekly")
    report.update_session_state({"seen": True}, session_id="bob-1")
    triage.delete_session("bob-2")
    return pgdb


def test_index_rows_match_the_last_event_and_the_session(
    sessions: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    rows = index_rows(admin, postgres_schema, table)
    assert set(rows) == {"ann-1", "ann-2", "bob-1", "bob-2"}
    for session_id, row in rows.items():
        events = sessions.store.read(session_id)
        assert row["version"] == events[-1].version
        assert row["updated_at"] == events[-1].timestamp.timestamp()
        assert row["created_at"] == events[0].timestamp.timestamp()
        assert row["user_id"] == events[0].user_id
        assert row["deleted"] == (session_id == "bob-2")
        session = sessions.get_session(session_id)
        if session is not None:
            assert row["session_name"] == session.session_name
            assert row["workflow_id"] == session.workflow_id
    assert rows["ann-1"]["session_name"] == "Ticket 42"


def test_get_sessions_lists_what_the_index_holds(
    sessions: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    rows = index_rows(admin, postgres_schema, table)
    live = sorted(
        (row for row in rows.values() if not row["deleted"]),
        key=lambda row: (row["created_at"], row["session_id"]),
        reverse=True,
    )
    listed = sessions.get_sessions()
    assert [s.session_id for s in listed] == [row["session_id"] for row in live]
    assert [s.session_name for s in listed] == [row["session_name"] for row in live]
    assert [s.session_id for s in sessions.get_sessions(user_id="bob")] == ["bob-1"]
    assert [s.session_id for s in sessions.get_sessions(workflow_id="report")] == [
        "bob-1",
        "ann-2",
    ]
    assert [s.session_id for s in sessions.get_sessions(session_name="ticket")] == ["ann-1"]


def test_conflicting_append_leaves_the_index_row_unchanged(
    sessions: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """A writer deciding on a stale view loses the race: neither log nor index moves."""
    before = index_rows(admin, postgres_schema, table)["ann-1"]
    events = sessions.store.read("ann-1")
    stale = sessions.load_from("ann-1", events[:4])
    stale.rename(user_id=None, session_name="Overwritten", autogenerated=False)
    pending = stale.take_pending()
    assert pending[0].version == 5  # already taken

    with pytest.raises(AppendConflict):
        sessions.store.append(pending)

    assert index_rows(admin, postgres_schema, table)["ann-1"] == before
    assert sessions.store.read("ann-1") == events
    assert [s.session_name for s in sessions.get_sessions(session_name="overwritten")] == []


def test_conflicts_leave_the_connection_usable_for_later_appends(
    postgres_schema: str, table: str
) -> None:
    """On one pooled connection, conflicts after runs of 1 to 8 clean appends (past
    psycopg's auto-prepare threshold): each is an AppendConflict and the next append lands."""
    with PostgresDb(
        POSTGRES_URL, session_table=table, db_schema=postgres_schema, pool_size=1, max_overflow=0
    ) as db:
        Workflow(name="Busy", db=db, steps=[...]).run(input="start", session_id="s1")
        for clean in range(1, 9):
            for k in range(clean):
                db.update_session_state("s1", {"k": k})
            stale = db.load("s1")
            db.update_session_state("s1", {"turn": clean})  # another writer gets there first
            stale.update_state(user_id=None, changes=StateChanges.between({}, {"lost": clean}))
            with pytest.raises(AppendConflict):
                db.store.append(stale.take_pending())
            assert db.update_session_state("s1", {"after": clean})["after"] == clean
        session = db.get_session("s1")
        assert session is not None
        assert "lost" not in session.session_state
