"""The same workflow on Agno 3.1.10 (``pip install -e ".[bench]"``), for comparison.

Agno keeps a session row and one row per run in its runs table; each
``Workflow.run`` reads the session with every earlier run (deserialising
each one), then writes the session row and the new run. A long session is
built by running the workflow once for real and inserting copies of that
run's row (new run ids, next run indexes) in one transaction, instead of
thousands of real runs whose cost grows with the session.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from uuid import uuid4

from workload import INPUT, OUTPUTS, WORKFLOW_NAME

MISSING = "Agno is not installed (pip install -e '.[bench]')"


def installed() -> bool:
    """Whether Agno and what its SqliteDb and PostgresDb import are available."""
    return all(importlib.util.find_spec(name) for name in ("agno", "sqlalchemy", "greenlet"))


def _step(text: str) -> Any:
    from agno.workflow.types import StepInput, StepOutput

    def step(step_input: StepInput) -> StepOutput:
        return StepOutput(content=text)

    step.__name__ = f"step_{text[0].lower()}"
    return step


def agno_workflow(db: Any) -> Any:
    """The three do-nothing steps as an Agno workflow on ``db``."""
    from agno.workflow import Workflow

    return Workflow(
        name=WORKFLOW_NAME, db=db, steps=[_step(text) for text in OUTPUTS], telemetry=False
    )


def populate(db: Any, session_id: str, runs: int) -> None:
    """A session of ``runs`` runs: one real run, then copies of its row."""
    from agno.db.utils import build_single_run_row
    from sqlalchemy import insert

    first = agno_workflow(db).run(input=INPUT, session_id=session_id)
    template = first.to_dict()
    rows = []
    for index in range(1, runs):
        run = dict(template, run_id=str(uuid4()))
        rows.append(build_single_run_row(run=run, session_id=session_id, run_index=index))
    if not rows:
        return
    table = db._get_table(table_type="runs", create_table_if_not_found=True)
    with db.Session() as session, session.begin():
        for start in range(0, len(rows), 500):
            session.execute(insert(table), rows[start : start + 500])


def stored_runs(db: Any, session_id: str) -> int:
    """How many runs Agno reads back for the session."""
    from agno.db.base import SessionType

    session = db.get_session(session_id=session_id, session_type=SessionType.WORKFLOW)
    return len(session.runs or [])
