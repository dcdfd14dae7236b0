"""One connection pool per PostgresDb, sized as asked and shared by threads."""

from __future__ import annotations

import threading

from kern.db.postgres import PostgresDb
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.conftest import POSTGRES_URL, postgres_table
from tests.postgres.conftest import store_of


def echo(step_input: StepInput) -> str:
    return f"echo: {step_input.input}"


def test_the_pool_is_sized_as_asked(postgres_schema: str) -> None:
    with PostgresDb(
        POSTGRES_URL,
        session_table=postgres_table(),
        db_schema=postgres_schema,
        pool_size=1,
        max_overflow=2,
    ) as db:
        assert db.get_session("nobody") is None  # first use opens the pool
        pool = store_of(db).recorder.datastore.pool
        assert (pool.min_size, pool.max_size) == (1, 3)


def test_threads_share_a_small_pool_and_every_run_lands(postgres_schema: str) -> None:
    """Six threads through at most two connections: they wait their turn, none is lost."""
    with PostgresDb(
        POSTGRES_URL,
        session_table=postgres_table(),
        db_schema=postgres_schema,
        pool_size=1,
        max_overflow=1,
    ) as db:
        workflow = Workflow(name="Pooled", db=db, steps=[echo])
        errors: list[BaseException] = []

        def work(number: int) -> None:
            try:
                for turn in range(3):
                    workflow.run(input=f"{number}-{turn}", session_id=f"s{number % 2}")
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        runs = [run for sid in ("s0", "s1") for run in (db.get_session(sid).runs or [])]  # type: ignore[union-attr]
        assert len(runs) == 18
        assert {run.status for run in runs} == {RunStatus.completed}
