"""A session recorded at known moments, with what every read showed along the way.

``history`` runs a workflow whose steps change the session state, renames
the session and updates its state, each at a minute of its own (freezegun),
and keeps a :class:`Snapshot` of the live session after every action, so
as-of reads can be compared with what was really seen then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from kern.db import KernDb
from kern.run import WorkflowRunOutput
from kern.session import WorkflowSession
from kern.workflow import StepInput, Workflow

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SESSION = "travel"
OWNER = "ada"


def tally(step_input: StepInput) -> str:
    """Counts runs in the session state and remembers every input."""
    state = step_input.session_state
    state["count"] = state.get("count", 0) + 1
    state["seen"] = [*state.get("seen", []), step_input.input]
    return f"tally {state['count']}: {step_input.input}"


def shout(step_input: StepInput) -> str:
    """Upper-cases the previous step's content."""
    return str(step_input.previous_step_content).upper()


@dataclass(frozen=True)
class Snapshot:
    """What the live session showed right after one action."""

    action: str
    version: int
    at: datetime
    session: WorkflowSession
    runs: list[dict[str, Any]]
    history_context: str | None
    chat_history: list[Any]
    session_state: dict[str, Any]
    session_name: str


def snapshot(db: KernDb, action: str, at: datetime) -> Snapshot:
    """The live session, read now, with its projections."""
    session = db.get_session(SESSION)
    assert session is not None
    return Snapshot(
        action=action,
        version=session.version,
        at=at,
        session=session,
        runs=[run.to_dict() for run in session.runs or []],
        history_context=session.get_workflow_history_context(),
        chat_history=session.get_chat_history(),
        session_state=dict(session.session_state),
        session_name=session.session_name,
    )


@dataclass
class History:
    """The recorded session: its workflow, run outputs and snapshots, oldest first."""

    db: KernDb
    workflow: Workflow
    runs: list[WorkflowRunOutput]
    snapshots: list[Snapshot]

    def minute(self, n: int) -> datetime:
        """T0 plus ``n`` minutes: action ``n`` was recorded then."""
        return T0 + timedelta(minutes=n)


def record_history(db: KernDb) -> History:
    """Six actions, one a minute from T0: run, rename, run, update state, run, rename."""
    workflow = Workflow(name="Travel", db=db, steps=[tally, shout], user_id=OWNER)
    history = History(db=db, workflow=workflow, runs=[], snapshots=[])
    actions: list[tuple[str, Callable[[], Any]]] = [
        ("run alpha", lambda: history.runs.append(workflow.run("alpha", session_id=SESSION))),
        ("rename", lambda: workflow.set_session_name(SESSION, session_name="First name")),
        ("run beta", lambda: history.runs.append(workflow.run("beta", session_id=SESSION))),
        ("update state", lambda: workflow.update_session_state({"mood": "calm"}, SESSION)),
        ("run gamma", lambda: history.runs.append(workflow.run("gamma", session_id=SESSION))),
        ("rename again", lambda: workflow.set_session_name(SESSION, session_name="Second")),
    ]
    for n, (action, do) in enumerate(actions):
        at = history.minute(n)
        with freeze_time(at):
            do()
        history.snapshots.append(snapshot(db, action, at))
    return history


@pytest.fixture
def history(db: KernDb) -> History:
    """The session of :func:`record_history` on the store under test."""
    return record_history(db)
