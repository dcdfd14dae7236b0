"""On PostgreSQL an as-of by time reads a handful of events by primary key, not the stream."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from freezegun import freeze_time
from psycopg import sql

from kern.db.postgres import PostgresDb
from kern.workflow import StepInput, Workflow
from tests.conftest import POSTGRES_URL, postgres_table
from tests.postgres.conftest import store_of

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SESSION = "long"
RUNS = 80
EVENTS = 1 + 3 * RUNS  # SessionStarted, then RunStarted, StepCompleted, RunCompleted a run


def echo(step_input: StepInput) -> str:
    """Answers with the run input."""
    return f"echo {step_input.input}"


class Spy:
    """Counts the statements a recorder runs and the events they return."""

    def __init__(self, db: PostgresDb) -> None:
        self.recorder = store_of(db).recorder
        self.select = self.recorder.select_events
        self.calls: list[dict[str, Any]] = []
        self.fetched = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Sequence[Any]:
        records = self.select(*args, **kwargs)
        self.calls.append(kwargs)
        self.fetched += len(records)
        return records

    def __enter__(self) -> Spy:
        self.recorder.select_events = self  # type: ignore[method-assign]  # the spy stands in
        return self

    def __exit__(self, *exc: object) -> None:
        del self.recorder.select_events


@pytest.fixture
def table(postgres_schema: str) -> Iterator[str]:
    """A table holding one session of RUNS runs, one a minute from T0."""
    name = postgres_table()
    with PostgresDb(POSTGRES_URL, session_table=name, db_schema=postgres_schema) as db:
        workflow = Workflow(name="Long", db=db, steps=[echo])
        for n in range(RUNS):
            with freeze_time(T0 + timedelta(minutes=n)):
                workflow.run(f"run {n}", session_id=SESSION)
        assert len(db.get_events(SESSION)) == EVENTS
    yield name


@pytest.fixture
def reader(postgres_schema: str, table: str) -> Iterator[PostgresDb]:
    """A fresh PostgresDb on that table: nothing of the session is cached."""
    with PostgresDb(POSTGRES_URL, session_table=table, db_schema=postgres_schema) as db:
        yield db


def test_as_of_a_moment_is_found_by_a_few_point_reads(reader: PostgresDb) -> None:
    moment = T0 + timedelta(minutes=60, seconds=30)
    with Spy(reader) as spy:
        version = reader.resolve_as_of(SESSION, moment)
    assert version == 1 + 3 * 61
    assert spy.fetched <= 2 + math.ceil(math.log2(EVENTS))
    assert spy.fetched == len(spy.calls)  # one event per statement
    assert all(call.get("limit") == 1 or call.get("lte") is not None for call in spy.calls)


def test_session_as_of_a_moment_reads_only_the_events_up_to_it(reader: PostgresDb) -> None:
    moment = T0 + timedelta(minutes=9, seconds=59)
    with Spy(reader) as spy:
        session = reader.get_session(SESSION, as_of=moment)
    assert session is not None
    assert [run.input for run in session.runs or []] == [f"run {n}" for n in range(10)]
    assert session.version == 1 + 3 * 10
    assert spy.fetched <= session.version + 2 + math.ceil(math.log2(EVENTS))
    assert spy.fetched < EVENTS / 4


def test_point_read_uses_the_primary_key_index(postgres_schema: str, table: str) -> None:
    """The statement each step of the search runs is an index scan, not a table scan."""
    events = sql.Identifier(postgres_schema, f"{table}_events")
    point_read = sql.SQL(
        "EXPLAIN SELECT * FROM {} WHERE originator_id = %s AND originator_version > %s "
        "AND originator_version <= %s ORDER BY originator_version ASC"
    ).format(events)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("ANALYZE {}").format(events))
        plan = "\n".join(row[0] for row in admin.execute(point_read, (SESSION, 120, 121)))
    assert "Index" in plan and f"{table}_events_pkey" in plan, plan
    assert "Seq Scan" not in plan, plan
