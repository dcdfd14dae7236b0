"""The workload every measurement shares: one run of a three-step workflow.

A run is RunStarted, three StepCompleted and RunCompleted. Its text is
about 5 KB: a 2,000-character input and three steps that do nothing but
return 1,000 fixed characters each. Long sessions are built from the events
of one real run (:func:`template_run`) replayed through Kern's aggregate with
new run ids, so 10,000 runs take seconds to write instead of 10,000 calls of
``Workflow.run``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.domain.aggregate import SessionAggregate
from kern.domain.events import RunCompleted, RunStarted, SessionEvent, SessionStarted, StepCompleted
from kern.workflow import StepInput, Workflow

INPUT = "input text " * 181 + "."  # 1,992 characters
OUTPUTS = ("A" * 1000, "B" * 1000, "C" * 1000)
WORKFLOW_NAME = "Bench Pipeline"
HISTORY_RUNS = 5

# Fields a replayed event takes from its own position, not from the template.
_ENVELOPE = {"session_id", "version", "timestamp", "hash", "run_id", "user_id", "step_index"}


def research(step_input: StepInput) -> str:
    """First step: returns fixed text."""
    return OUTPUTS[0]


def summarize(step_input: StepInput) -> str:
    """Second step: returns fixed text."""
    return OUTPUTS[1]


def publish(step_input: StepInput) -> str:
    """Third step: returns fixed text."""
    return OUTPUTS[2]


def research_with_history(step_input: StepInput) -> str:
    """First step, reading the history context of the last runs first."""
    step_input.get_workflow_history_context(num_runs=HISTORY_RUNS)
    return OUTPUTS[0]


def summarize_with_history(step_input: StepInput) -> str:
    """Second step, reading the history context of the last runs first."""
    step_input.get_workflow_history_context(num_runs=HISTORY_RUNS)
    return OUTPUTS[1]


def publish_with_history(step_input: StepInput) -> str:
    """Third step, reading the history context of the last runs first."""
    step_input.get_workflow_history_context(num_runs=HISTORY_RUNS)
    return OUTPUTS[2]


def kern_workflow(db: KernDb, *, history: bool = False) -> Workflow:
    """The benchmark workflow on ``db``; with ``history`` every step gets the
    context of the last five runs and reads it."""
    if history:
        steps = [research_with_history, summarize_with_history, publish_with_history]
        return Workflow(
            name=WORKFLOW_NAME,
            db=db,
            steps=steps,
            add_workflow_history_to_steps=True,
            num_history_runs=HISTORY_RUNS,
        )
    return Workflow(name=WORKFLOW_NAME, db=db, steps=[research, summarize, publish])


@dataclasses.dataclass(frozen=True)
class Template:
    """The events of a session holding one real run: SessionStarted, then the run."""

    started: SessionStarted
    run: tuple[SessionEvent, ...]


def template_run() -> Template:
    """Record one run in memory and keep its events as the pattern for every other."""
    with InMemoryDb() as db:
        kern_workflow(db).run(input=INPUT, session_id="template")
        events = db.get_events("template")
    started, *run = events
    assert isinstance(started, SessionStarted) and len(run) == 5
    return Template(started, tuple(run))


def _fields(event: SessionEvent) -> dict[str, Any]:
    return {
        f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name not in _ENVELOPE
    }


def _record_run(aggregate: SessionAggregate, template: Template) -> None:
    run_id = str(uuid4())
    for event in template.run:
        fields = _fields(event)
        if isinstance(event, RunStarted):
            aggregate.start_run(run_id=run_id, user_id=None, **fields)
        elif isinstance(event, StepCompleted):
            aggregate.complete_step(run_id=run_id, user_id=None, **fields)
        elif isinstance(event, RunCompleted):
            aggregate.complete_run(run_id=run_id, user_id=None, **fields)


def session_events(
    session_id: str, runs: int, template: Template, chunk_runs: int = 1000
) -> Iterator[list[SessionEvent]]:
    """The events of a session of ``runs`` runs, in chunks of ``chunk_runs`` runs,
    each made by the aggregate's commands (so versions and the hash chain are real)."""
    aggregate = SessionAggregate.replay(session_id, [])
    fields = _fields(template.started)
    aggregate.start(user_id=None, **fields)
    for first in range(0, runs, chunk_runs):
        for _ in range(first, min(runs, first + chunk_runs)):
            _record_run(aggregate, template)
        yield aggregate.take_pending()


def populate(db: KernDb, session_id: str, chunks: list[list[SessionEvent]]) -> None:
    """Append pre-built chunks of one session's events, each chunk one transaction."""
    for chunk in chunks:
        db.store.append(chunk)
