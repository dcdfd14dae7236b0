"""Functions the PostgreSQL load tests run in spawned processes.

They live away from the tests so a spawned child imports only Kern and this
file. Each child opens its own ``PostgresDb`` on the schema and table it is given.
"""

from __future__ import annotations

from typing import Any

from kern.db.postgres import PostgresDb
from kern.workflow import StepInput, Workflow

# The barrier every worker's step waits at (set in each child by run_many).
_all_in_step: Any = None


def tally(step_input: StepInput) -> str:
    """Record in the state how many runs this worker has done, then wait for the others.

    Waiting at the shared barrier means the i-th run of every worker has
    started before any of them can finish: the runs truly overlap.
    """
    given: dict[str, Any] = step_input.input
    step_input.session_state[f"worker-{given['worker']}"] = given["i"] + 1
    _all_in_step.wait()
    return f"{given['worker']}:{given['i']}"


def run_many(
    db_url: str,
    db_schema: str,
    session_table: str,
    session_id: str,
    worker: int,
    runs: int,
    barrier: Any,
) -> None:
    """Run ``runs`` times in the session, in step with the other workers."""
    global _all_in_step
    _all_in_step = barrier
    with PostgresDb(
        db_url, session_table=session_table, db_schema=db_schema, pool_size=1, max_overflow=2
    ) as db:
        workflow = Workflow(name="Workers", db=db, steps=[tally])
        for i in range(runs):
            workflow.run(input={"worker": worker, "i": i}, session_id=session_id)


def open_stores(db_url: str, places: list[tuple[str, str]], barrier: Any) -> None:
    """Open a store on each new (schema, table) at the same moment as the other workers."""
    try:
        for db_schema, session_table in places:
            with PostgresDb(db_url, session_table=session_table, db_schema=db_schema) as db:
                barrier.wait()
                db.get_sessions()  # first use: creates the schema and tables
    except BaseException:
        barrier.abort()  # the others fail at once instead of waiting for this worker
        raise
