"""Many writers on one PostgreSQL log, and Kern's connections killed under a running workflow."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.db.postgres import PostgresDb
from kern.domain.events import RunCompleted, RunStarted, SessionStarted, StepCompleted
from kern.run import RunStatus, WorkflowRunOutput
from kern.workflow import StepInput, Workflow
from tests.conftest import POSTGRES_URL, postgres_table
from tests.postgres.conftest import qualified, store_of
from tests.postgres.workers import open_stores, run_many

pytestmark = pytest.mark.slow

Admin = psycopg.Connection[Any]

JOIN_TIMEOUT = 60  # seconds; only reached when something hangs

TERMINATE_KERN = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE application_name = %s AND datname = current_database() "
    "AND pid <> pg_backend_pid()"
)


def versions(db: PostgresDb, session_id: str) -> list[int]:
    return [event.version for event in db.store.read(session_id)]


def assert_contiguous(db: PostgresDb, session_id: str) -> None:
    found = versions(db, session_id)
    assert found == list(range(1, len(found) + 1))


# -- several processes --------------------------------------------------------------------------


def test_processes_running_one_session_all_land(
    postgres_schema: str, pgdb: PostgresDb, table: str
) -> None:
    """Four processes, six overlapping runs each, one session: 24 runs, no gaps, no losses."""
    workers, runs_each = 4, 6
    context = multiprocessing.get_context("spawn")
    in_step = context.Barrier(workers, timeout=JOIN_TIMEOUT)
    children = [
        context.Process(
            target=run_many,
            args=(POSTGRES_URL, postgres_schema, table, "shared", worker, runs_each, in_step),
        )
        for worker in range(workers)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(JOIN_TIMEOUT)
    assert [child.exitcode for child in children] == [0] * workers

    events = pgdb.store.read("shared")
    # One SessionStarted, then RunStarted, StepCompleted, RunCompleted per run.
    assert len(events) == 1 + workers * runs_each * 3
    assert_contiguous(pgdb, "shared")
    assert sum(isinstance(e, SessionStarted) for e in events) == 1
    session = pgdb.get_session("shared")
    assert session is not None and session.runs is not None
    assert len({run.run_id for run in session.runs}) == workers * runs_each
    assert {run.status for run in session.runs} == {RunStatus.completed}
    for worker in range(workers):
        mine = [run.input["i"] for run in session.runs if run.input["worker"] == worker]
        assert mine == list(range(runs_each))
    assert session.session_state == {f"worker-{w}": runs_each for w in range(workers)}
    assert [s.session_id for s in pgdb.get_sessions()] == ["shared"]


@pytest.fixture
def fresh_schemas(admin: Admin) -> Iterator[list[str]]:
    """Schema names that do not exist yet; dropped after the test."""
    names = [f"kern_new_{uuid.uuid4().hex[:12]}" for _ in range(6)]
    yield names
    for name in names:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def tables_in(admin: Admin, schema: str) -> set[str]:
    rows = admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
    ).fetchall()
    return {row[0] for row in rows}


def test_processes_opening_the_same_new_store_at_once_all_succeed(
    fresh_schemas: list[str], admin: Admin
) -> None:
    """Each first use races to create the schema, its type and the tables; none may fail."""
    workers = 4
    places = [(schema, postgres_table()) for schema in fresh_schemas]
    context = multiprocessing.get_context("spawn")
    at_once = context.Barrier(workers, timeout=JOIN_TIMEOUT)
    children = [
        context.Process(target=open_stores, args=(POSTGRES_URL, places, at_once))
        for _ in range(workers)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(JOIN_TIMEOUT)
    assert [child.exitcode for child in children] == [0] * workers
    for schema, table in places:
        kinds = ("events", "index", "schema", "segments", "snapshots", "keys", "erasures", "runs")
        assert tables_in(admin, schema) == {f"{table}_{kind}" for kind in kinds}


# -- threads sharing one PostgresDb --------------------------------------------------------------


def test_threads_sharing_one_store_all_land(pgdb: PostgresDb) -> None:
    """Eight threads, one pool: four on one session, four on a session each."""
    threads, runs_each = 8, 3
    in_step = threading.Barrier(threads, timeout=JOIN_TIMEOUT)

    def meet(step_input: StepInput) -> str:
        thread, i = step_input.input
        step_input.session_state[f"thread-{thread}"] = i + 1
        in_step.wait()  # every thread's i-th run is under way before any finishes
        return f"{thread}:{i}"

    workflow = Workflow(name="Threads", db=pgdb, steps=[meet])

    def session_of(thread: int) -> str:
        return "shared" if thread < 4 else f"own-{thread}"

    def work(thread: int) -> list[WorkflowRunOutput]:
        return [
            workflow.run(input=[thread, i], session_id=session_of(thread)) for i in range(runs_each)
        ]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = [run for runs in pool.map(work, range(threads)) for run in runs]

    assert [r.status for r in results] == [RunStatus.completed] * threads * runs_each
    for session_id in {session_of(t) for t in range(threads)}:
        assert_contiguous(pgdb, session_id)
        session = pgdb.get_session(session_id)
        assert session is not None and session.runs is not None
        owners = [t for t in range(threads) if session_of(t) == session_id]
        assert len(session.runs) == len(owners) * runs_each
        assert session.session_state == {f"thread-{t}": runs_each for t in owners}
    assert len(pgdb.get_sessions()) == 5


# -- connections killed -------------------------------------------------------------------------


def terminate_kern_connections(admin: Admin, db: PostgresDb) -> int:
    """Kill every backend ``db`` has open (found by its own application_name)."""
    return len(admin.execute(TERMINATE_KERN, [store_of(db).application_name]).fetchall())


def assert_run_logged_once(db: PostgresDb, session_id: str, result: WorkflowRunOutput) -> None:
    """Every step the run reported is in the log exactly once, between its start and end."""
    assert_contiguous(db, session_id)
    mine = [e for e in db.store.read(session_id) if getattr(e, "run_id", None) == result.run_id]
    assert [type(e) for e in mine] == [RunStarted] + [StepCompleted] * len(result.step_results) + [
        RunCompleted
    ]
    assert [e.step_name for e in mine if isinstance(e, StepCompleted)] == [
        step.step_name for step in result.step_results
    ]
    stored = db.get_session(session_id)
    assert stored is not None and result.run_id is not None
    assert stored.get_run(result.run_id) == result


def draft(step_input: StepInput) -> str:
    return f"draft of {step_input.input}"


def polish(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def test_run_survives_its_connections_being_killed_mid_run(pgdb: PostgresDb, admin: Admin) -> None:
    """A step kills every connection Kern holds: the pool reconnects and the run completes."""
    killed: list[int] = []

    def pull_the_plug(step_input: StepInput) -> str:
        killed.append(terminate_kern_connections(admin, pgdb))
        return str(step_input.previous_step_content)

    workflow = Workflow(name="Unplugged", db=pgdb, steps=[draft, pull_the_plug, polish])
    result = workflow.run(input="report", session_id="s1")
    assert killed[0] >= 1  # Kern had connections open, and lost them
    assert result.status == RunStatus.completed
    assert result.content == "DRAFT OF REPORT"
    assert_run_logged_once(pgdb, "s1", result)

    after = Workflow(name="Unplugged", db=pgdb, steps=[draft, polish]).run(
        input="next", session_id="s1"
    )
    assert after.status == RunStatus.completed
    assert_run_logged_once(pgdb, "s1", after)


def test_next_run_works_after_connections_are_killed_between_runs(
    pgdb: PostgresDb, admin: Admin
) -> None:
    """Connections dropped while idle in the pool are replaced before the next use."""
    workflow = Workflow(name="Between", db=pgdb, steps=[draft, polish])
    first = workflow.run(input="one", session_id="s1")
    assert terminate_kern_connections(admin, pgdb) >= 1
    second = workflow.run(input="two", session_id="s1")
    assert terminate_kern_connections(admin, pgdb) >= 1
    assert [s.session_id for s in pgdb.get_sessions()] == ["s1"]
    session = pgdb.get_session("s1")
    assert session is not None and session.runs is not None
    assert [run.status for run in session.runs] == [RunStatus.completed] * 2
    for result in (first, second):
        assert_run_logged_once(pgdb, "s1", result)


WAITING_FOR_THE_LOG = (
    "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
    "WHERE a.application_name LIKE 'kern%%' AND a.datname = current_database() "
    "AND NOT l.granted AND l.relation = to_regclass(%s)"
)


def kern_backend_waiting_for(admin: Admin, schema: str, table: str) -> int:
    """The pid of a Kern connection waiting to lock the event log (polls until there is one)."""
    name = f'"{schema}"."{table}"'
    for _ in range(2000):
        row = admin.execute(WAITING_FOR_THE_LOG, [name]).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.005)
    raise AssertionError("no Kern connection ever waited for the event log")


def test_append_whose_connection_is_killed_in_flight_lands_once(
    pgdb: PostgresDb, admin: Admin, postgres_schema: str, table: str
) -> None:
    """The append is inside its transaction, waiting for the log's lock, when the
    server kills its connection: it is retried on a new one and recorded once."""
    events = qualified(postgres_schema, f"{table}_events")
    with psycopg.connect(POSTGRES_URL) as locker:  # not autocommit: its transaction holds the lock

        def hold_the_log(step_input: StepInput) -> str:
            locker.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events))
            return str(step_input.previous_step_content)

        workflow = Workflow(name="InFlight", db=pgdb, steps=[draft, hold_the_log, polish])
        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(workflow.run, "report", session_id="s1")
            # The step's own record, inside its transaction, stuck on the lock:
            victim = kern_backend_waiting_for(admin, postgres_schema, f"{table}_events")
            assert admin.execute("SELECT pg_terminate_backend(%s)", [victim]).fetchone() == (True,)
            locker.rollback()  # release the log
            result = running.result(timeout=JOIN_TIMEOUT)

    assert result.status == RunStatus.completed
    assert result.content == "DRAFT OF REPORT"
    assert_run_logged_once(pgdb, "s1", result)
    after = Workflow(name="InFlight", db=pgdb, steps=[draft]).run("next", session_id="s1")
    assert_run_logged_once(pgdb, "s1", after)
