"""Folding a session's events into the WorkflowSession read model."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

from kern.domain.events import (
    RunCompleted,
    RunResumed,
    RunStarted,
    SessionDeleted,
    SessionEvent,
    SessionForked,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepAttemptFailed,
    StepCompleted,
)
from kern.domain.values import RunStatus
from kern.projections.runs import StepOutput, WorkflowMetrics, WorkflowRunOutput
from kern.projections.session import WorkflowSession


def unix_seconds(event: SessionEvent) -> int:
    """An event's timestamp as whole unix seconds (the read model's unit)."""
    return int(event.timestamp.timestamp())


class SessionFold:
    """Applies events one by one; ``session`` is the read model so far.

    ``session`` is None before SessionStarted and after SessionDeleted.
    """

    def __init__(self) -> None:
        self.session: WorkflowSession | None = None
        self.deleted = False
        self._state: dict[str, Any] = {}
        self._runs: dict[str, WorkflowRunOutput] = {}
        # A step primitive's own event comes after its steps': until it does, a
        # placeholder stands in its place in the tree, holding the steps recorded so
        # far (so a run read mid-primitive shows them). (run_id, path) -> placeholder,
        # and the positions of its steps.
        self._open: dict[tuple[str, str], tuple[StepOutput, list[int]]] = {}

    def resume(self, session: WorkflowSession) -> None:
        """Stand at ``session``, a read model this fold (or another) produced
        earlier: later events apply to it as they would have to the fold that
        built it."""
        assert session.session_data is not None
        self.session = session
        self.deleted = False
        self._state = session.session_data["session_state"]
        self._runs = {run.run_id: run for run in session.runs or [] if run.run_id is not None}

    def apply_all(self, events: Iterable[SessionEvent]) -> SessionFold:
        """Apply every event in order; returns self."""
        for event in events:
            self.apply(event)
        return self

    def apply(self, event: SessionEvent) -> None:
        """Apply one event."""
        # A dict lookup by exact class: singledispatch's per-call wrapper cost
        # more than most handlers on a long read.
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"no projection for event {type(event).__name__}")
        handler(self, event)
        if self.session is not None:
            self.session.updated_at = unix_seconds(event)
            self.session.version = event.version

    def _started(self, event: SessionStarted) -> None:
        self._state = dict(event.session_state)
        self.session = WorkflowSession(
            session_id=event.session_id,
            user_id=event.user_id,
            workflow_id=event.workflow_id,
            workflow_name=event.workflow_name,
            runs=[],
            session_data={"session_state": self._state},
            workflow_data=event.workflow_data,
            metadata=event.metadata,
            created_at=unix_seconds(event),
        )

    def _run_started(self, event: RunStarted) -> None:
        session = self._live()
        self._runs[event.run_id] = run = WorkflowRunOutput(
            run_id=event.run_id,
            session_id=event.session_id,
            workflow_id=event.workflow_id,
            workflow_name=event.workflow_name,
            user_id=event.user_id,
            input=event.input.value,
            status=RunStatus.running,
            session_state=dict(event.session_state),
            metadata=event.provenance.metadata,
            created_at=unix_seconds(event),
        )
        # Run ids are unique in a stream (the aggregate refuses a second RunStarted).
        if session.runs is None:
            session.runs = []
        session.runs.append(run)

    def _step_completed(self, event: StepCompleted) -> None:
        run = self._run(event.run_id)
        output = StepOutput(
            content=event.content.value,
            step_name=event.step_name,
            step_index=event.step_index,
            step_type=event.step_type,
            executor_type=event.executor_type,
            executor_name=event.executor_name,
            executor_id=event.executor_id,
            input=event.input.value,
            success=event.success,
            error=event.error,
            metrics=event.metrics.model_dump(),
            executor_run=event.executor_run,
            error_type=event.error_type,
            traceback=event.traceback,
        )
        self._place(run, event.step_path, output)
        if event.executor_run is not None:
            run.step_executor_runs.append(event.executor_run)
        run.session_state = event.state_changes.apply_to(run.session_state or {})

    def _attempt_failed(self, event: StepAttemptFailed) -> None:
        """A failed attempt changes no read model: the step's result is its
        StepCompleted, as Agno's run shows it. The attempts are read from the
        log (``get_log``, the audit, OpenTelemetry spans, the web timeline)."""
        self._run(event.run_id)

    def _place(self, run: WorkflowRunOutput, path: str, output: StepOutput) -> None:
        """Put ``output`` at ``path`` in the run's tree: in the place of the
        placeholder that held its steps, or under its parent (a placeholder)."""
        assert run.run_id is not None
        standing = self._open.pop((run.run_id, path), None)
        parent, _, position = path.rpartition(".")
        siblings = self._holder(run, parent).steps if parent else run.step_results
        assert siblings is not None
        if standing is not None:
            output.steps = standing[0].steps
            siblings[next(i for i, s in enumerate(siblings) if s is standing[0])] = output
        elif parent:
            positions = self._open[(run.run_id, parent)][1]
            at = bisect.bisect(positions, int(position))
            positions.insert(at, int(position))
            siblings.insert(at, output)
        else:
            run.step_results.append(output)

    def _holder(self, run: WorkflowRunOutput, path: str) -> StepOutput:
        """The placeholder of the primitive at ``path``, made (and placed) if needed."""
        assert run.run_id is not None
        found = self._open.get((run.run_id, path))
        if found is None:
            holder = StepOutput(step_index=int(path.split(".")[0]) - 1, steps=[])
            self._place(run, path, holder)
            found = self._open[(run.run_id, path)] = (holder, [])
        return found[0]

    def _run_completed(self, event: RunCompleted) -> None:
        run = self._run(event.run_id)
        for key in [k for k in self._open if k[0] == event.run_id]:
            del self._open[key]
        run.status = event.status
        run.content = event.content.value
        run.error = event.error
        run.error_type = event.error_type
        run.traceback = event.traceback
        run.metrics = WorkflowMetrics.of(event.metrics.duration, run.step_results)
        self._set_state(event.state_changes.apply_to(self._state))

    def _run_resumed(self, event: RunResumed) -> None:
        """A resumed run reads as it did: RUNNING, with the steps it finished."""
        self._run(event.run_id)

    def _renamed(self, event: SessionRenamed) -> None:
        data = self._live().session_data
        assert data is not None
        data["session_name"] = event.session_name

    def _state_updated(self, event: SessionStateUpdated) -> None:
        self._set_state(event.changes.apply_to(self._state))

    def _deleted(self, event: SessionDeleted) -> None:
        self.session = None
        self.deleted = True
        self._runs = {}

    def _forked(self, event: SessionForked) -> None:
        """Where a fork came from is in its log; the read model shows the copied
        runs and state, as the original had them at that point."""

    # -- helpers ---------------------------------------------------------------

    def _live(self) -> WorkflowSession:
        if self.session is None:
            raise ValueError("event recorded before SessionStarted or after SessionDeleted")
        return self.session

    def _run(self, run_id: str) -> WorkflowRunOutput:
        self._live()
        run = self._runs.get(run_id)
        if run is None:
            raise ValueError(f"event for run {run_id!r} before its RunStarted")
        return run

    def _set_state(self, state: dict[str, Any]) -> None:
        self._state = state
        data = self._live().session_data
        assert data is not None
        data["session_state"] = state


_HANDLERS: dict[type[SessionEvent], Callable[[SessionFold, Any], None]] = {
    SessionStarted: SessionFold._started,
    RunStarted: SessionFold._run_started,
    StepCompleted: SessionFold._step_completed,
    RunCompleted: SessionFold._run_completed,
    SessionRenamed: SessionFold._renamed,
    SessionStateUpdated: SessionFold._state_updated,
    SessionDeleted: SessionFold._deleted,
    SessionForked: SessionFold._forked,
    StepAttemptFailed: SessionFold._attempt_failed,
    RunResumed: SessionFold._run_resumed,
}
"""The fold's handler of each event class (every class in domain/events.py)."""


def project_session(events: Iterable[SessionEvent]) -> WorkflowSession | None:
    """The read model of a session from its events; None if absent or deleted."""
    return SessionFold().apply_all(events).session
