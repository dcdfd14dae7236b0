"""The Workflow runner: runs steps and records each run as it goes.

RunStarted is appended before the first step, StepCompleted after each step
and RunCompleted at the end, so a process that dies mid-run leaves the run
readable as RUNNING with the steps it finished.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError

from kern.adapters.db import KernDb
from kern.adapters.memory import InMemoryStore
from kern.adapters.provenance import provenance, step_fingerprint
from kern.adapters.replay import ReplayReport, replay_run
from kern.adapters.steps import (
    ResolvedStep,
    SessionViews,
    StepInput,
    executor_run_of,
    resolve_step,
)
from kern.adapters.timetravel import AsOf
from kern.domain.aggregate import WorkflowSession as SessionAggregate
from kern.domain.aggregate import validate_session_id
from kern.domain.errors import (
    InvalidInputError,
    InvalidSessionIdError,
    InvalidSessionNameError,
    UnstorableValueError,
)
from kern.domain.values import (
    ExecutorRun,
    Metrics,
    Provenance,
    RunStatus,
    StateChanges,
    StoredValue,
    to_json_value,
)
from kern.projections.runs import (
    StepOutput,
    WorkflowChatInteraction,
    WorkflowMetrics,
    WorkflowRunOutput,
)
from kern.projections.session import WorkflowSession, history_text

AUTONAME_DESCRIPTION_CHARS = 37


class Workflow:
    """A named list of steps, run again and again inside sessions."""

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        db: KernDb | None = None,
        steps: Sequence[Any] | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        add_workflow_history_to_steps: bool = False,
        num_history_runs: int = 3,
        metadata: Mapping[str, Any] | None = None,
        id: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.id = id or _slug(name) or None
        # Without a db, runs still keep their history, in this process only.
        self.db: KernDb = db if db is not None else KernDb(InMemoryStore())
        self.steps = list(steps or [])
        self._resolved = [resolve_step(i, step) for i, step in enumerate(self.steps)]
        self.session_id = session_id
        self.user_id = user_id
        self.session_state = dict(session_state) if session_state is not None else None
        self.add_workflow_history_to_steps = add_workflow_history_to_steps
        self.num_history_runs = num_history_runs
        self.metadata = dict(metadata) if metadata is not None else None

    # -- running ----------------------------------------------------------------

    def run(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkflowRunOutput:
        """Run every step on ``input`` in the session; record it as it goes.

        A step that raises ends the run as ERROR (recorded with the error text)
        and the exception propagates. Invalid input raises before anything is
        recorded. ``correlation_id`` and ``metadata`` (a JSON-able dict) are
        stored in the provenance of every event of the run.
        """
        if session_id is None:
            if self.session_id is None:
                self.session_id = str(uuid4())
            session_id = self.session_id
        session_id = validate_session_id(session_id)
        user_id = user_id or self.user_id
        stamp = provenance(
            correlation_id=correlation_id,
            workflow_fingerprint=self.fingerprint,
            metadata=_metadata(metadata),
        )
        run = _Run(self, session_id, user_id, run_id or str(uuid4()), input, stamp)
        return run.execute(session_state)

    @property
    def fingerprint(self) -> str:
        """``sha256:...`` of the steps' names, kinds and code (see kern.adapters.provenance)."""
        return step_fingerprint(self._resolved)

    # -- sessions ----------------------------------------------------------------

    def _session_id(self, session_id: str | None) -> str:
        chosen = session_id if session_id is not None else self.session_id
        if chosen is None:
            raise InvalidSessionIdError("no session_id given and the workflow has none")
        return validate_session_id(chosen)

    def get_session(
        self,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        as_of: AsOf | None = None,
    ) -> WorkflowSession | None:
        """The session read model; None when absent, deleted or another user's.

        ``as_of`` (a version, datetime or run_id) gives it as it stood then.
        """
        return self.db.get_session(
            self._session_id(session_id), user_id or self.user_id, as_of=as_of
        )

    def get_session_name(self, session_id: str | None = None, user_id: str | None = None) -> str:
        """The session's name ("" when never named); SessionNotFoundError if not visible."""
        return self.db.require_session(
            self._session_id(session_id), user_id or self.user_id
        ).session_name

    def set_session_name(
        self,
        session_id: str | None = None,
        autogenerate: bool = False,
        session_name: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> WorkflowSession:
        """Name the session, by hand or "<description> - YYYY-MM-DD HH:MM" (local time)."""
        if autogenerate:
            session_name = self.generate_session_name()
        elif session_name is None:
            raise InvalidSessionNameError("give a session_name or pass autogenerate=True")
        return self.db.rename_session(
            self._session_id(session_id),
            session_name,
            user_id or self.user_id,
            autogenerated=autogenerate,
            correlation_id=correlation_id,
        )

    def generate_session_name(self) -> str:
        """The name ``set_session_name(autogenerate=True)`` records now."""
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
        prefix = (self.description or "")[:AUTONAME_DESCRIPTION_CHARS] or "Workflow Session"
        return f"{prefix} - {stamp}"

    def get_session_state(
        self, session_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        """The session state as stored; SessionNotFoundError if not visible."""
        return self.db.require_session(
            self._session_id(session_id), user_id or self.user_id
        ).session_state

    def update_session_state(
        self,
        session_state_updates: Mapping[str, Any],
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Set keys of the session state (recorded as SessionStateUpdated)."""
        return self.db.update_session_state(
            self._session_id(session_id),
            session_state_updates,
            user_id or self.user_id,
            correlation_id=correlation_id,
        )

    def get_chat_history(
        self,
        session_id: str | None = None,
        last_n_runs: int | None = None,
        user_id: str | None = None,
    ) -> list[WorkflowChatInteraction]:
        """Input/output pairs of the session's last runs."""
        session = self.db.require_session(self._session_id(session_id), user_id or self.user_id)
        return session.get_chat_history(last_n_runs=last_n_runs)

    def get_run(
        self, run_id: str, session_id: str | None = None, user_id: str | None = None
    ) -> WorkflowRunOutput | None:
        """One recorded run, or None."""
        session = self.get_session(session_id, user_id)
        return session.get_run(run_id) if session else None

    def get_last_run_output(
        self, session_id: str | None = None, user_id: str | None = None
    ) -> WorkflowRunOutput | None:
        """The session's most recent run, or None."""
        session = self.get_session(session_id, user_id)
        return session.runs[-1] if session and session.runs else None

    def delete_session(
        self, session_id: str, user_id: str | None = None, *, correlation_id: str | None = None
    ) -> bool:
        """Delete the session (a tombstone; its events stay for audit)."""
        return self.db.delete_session(
            session_id, user_id or self.user_id, correlation_id=correlation_id
        )

    def get_sessions(self, **filters: Any) -> list[WorkflowSession]:
        """``db.get_sessions`` with the workflow's user_id as the default owner."""
        filters.setdefault("user_id", self.user_id)
        return self.db.get_sessions(**filters)

    # -- replay (kern.adapters.replay) -----------------------------------------------

    def replay(
        self, run_id: str, session_id: str | None = None, user_id: str | None = None
    ) -> ReplayReport:
        """Run the recorded input of ``run_id`` again through the current steps, from
        the history and session state that run had, and compare step by step.

        Runs in a scratch in-memory store: the session is never written. A step
        that raises is reported in the diff, not raised. RunNotFoundError for a
        run the session never started; SessionNotFoundError if not visible.
        """
        return replay_run(self, run_id, self._session_id(session_id), user_id or self.user_id)

    # -- helpers for _Run ----------------------------------------------------------

    def _workflow_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "steps": [step.describe() for step in self._resolved],
        }

    def _history_window(self, step: ResolvedStep) -> int | None:
        """How many past runs the step sees, or None when history is off for it."""
        enabled = (
            step.add_workflow_history
            if step.add_workflow_history is not None
            else self.add_workflow_history_to_steps
        )
        if not enabled:
            return None
        return step.num_history_runs if step.num_history_runs is not None else self.num_history_runs


class _Run:
    """One execution of a workflow, recording events as it goes."""

    def __init__(
        self,
        workflow: Workflow,
        session_id: str,
        user_id: str | None,
        run_id: str,
        input: Any,
        provenance: Provenance,
    ) -> None:
        self.provenance = provenance
        self.workflow = workflow
        metadata = provenance.metadata
        self.db = workflow.db
        self.session_id = session_id
        self.user_id = user_id
        self.run_id = run_id
        self.input = input
        self._unsent: Callable[[SessionAggregate], Any] | None = None
        self.output = WorkflowRunOutput(
            run_id=run_id,
            session_id=session_id,
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            user_id=user_id,
            input=input,
            status=RunStatus.pending,
            metadata=metadata,
        )

    def execute(self, overrides: Mapping[str, Any] | None) -> WorkflowRunOutput:
        stored_input = StoredValue.of(self.input, what="run input")
        extra = to_json_value(dict(overrides or {}), what="session_state")
        seed = to_json_value(self.workflow.session_state or {}, what="workflow session_state")
        assert isinstance(extra, dict) and isinstance(seed, dict)
        started = time.perf_counter()
        before_run = self._start(stored_input, seed, extra)
        store = self.db.store
        views = SessionViews(
            lambda: store.read(self.session_id, upto=before_run),
            lambda: store.history(self.session_id, before_run),
        )
        state: dict[str, Any] = dict(self.output.session_state or {})
        self.output.status = RunStatus.running
        step_input = StepInput(input=self.input, session_state=state, views=views)
        try:
            for step in self.workflow._resolved:
                output = self._run_step(step, step_input)
                if output.stop:
                    break
        except BaseException as exc:
            status = RunStatus.error if isinstance(exc, Exception) else RunStatus.cancelled
            self._finish(status, None, started, state, error=_error_text(exc))
            raise
        content = self.output.step_results[-1].content if self.output.step_results else None
        self._finish(RunStatus.completed, content, started, state)
        return self.output

    def _start(self, stored_input: StoredValue, seed: dict[str, Any], extra: dict[str, Any]) -> int:
        """Append RunStarted (and SessionStarted for a new session); returns the
        version just before RunStarted, where the session's history stops."""
        workflow = self.workflow

        def decide(session: Any) -> dict[str, Any]:
            session.start(
                user_id=self.user_id,
                workflow_id=workflow.id,
                workflow_name=workflow.name,
                # Only a new session records it: skip building it for every run.
                workflow_data=None if session.exists else to_json_value(workflow._workflow_data()),
                metadata=workflow.metadata,
                session_state=seed,
                provenance=self.provenance,
            )
            base = dict(session.state)
            started = session.start_run(
                run_id=self.run_id,
                user_id=self.user_id,
                input=stored_input,
                session_state={**base, **extra},
                workflow_id=workflow.id,
                workflow_name=workflow.name,
                provenance=self.provenance,
            )
            self.output.created_at = int(started.timestamp.timestamp())
            return base

        executed = self.db.execute(self.session_id, decide)
        self.base_state = executed.result
        self.output.session_state = {**executed.result, **extra}
        return executed.events[-1].version - 1

    def _run_step(self, step: ResolvedStep, step_input: StepInput) -> StepOutput:
        self._flush()
        before = to_json_value(step_input.session_state, what="session_state")
        assert isinstance(before, dict)
        window = self.workflow._history_window(step)
        context = (
            step_input.get_workflow_history_context(num_runs=window) if window is not None else None
        )
        received, call = self._prepare(step, step_input, context)
        started = time.perf_counter()
        try:
            response = call()
        except BaseException as exc:
            self._record_step(
                step,
                received,
                None,
                started,
                before,
                step_input.session_state,
                error=_error_text(exc),
            )
            raise
        try:
            output, executor_run = self._normalise(step, response)
        except UnstorableValueError as exc:
            # The step ran but what it returned cannot be stored: record it as failed.
            self._record_step(
                step, received, None, started, before, step_input.session_state, error=str(exc)
            )
            raise
        self._record_step(
            step,
            received,
            output,
            started,
            before,
            step_input.session_state,
            executor_run=executor_run,
        )
        step_input.previous_step_outputs[step.name] = output
        step_input.previous_step_content = output.content
        return output

    def _prepare(
        self, step: ResolvedStep, step_input: StepInput, context: str | None
    ) -> tuple[Any, Any]:
        if step.is_agent_like:
            message = (
                step_input.input
                if not step_input.previous_step_outputs
                else step_input.previous_step_content
            )
            if context:
                message = context + (message if isinstance(message, str) else history_text(message))
            return message, lambda: step.executor.run(message)
        received = {
            "input": step_input.input,
            "previous_step_content": step_input.previous_step_content,
            "workflow_history_context": context,
        }
        return received, lambda: step.executor(step_input)

    def _normalise(
        self, step: ResolvedStep, response: Any
    ) -> tuple[StepOutput, ExecutorRun | None]:
        executor_run = None
        if step.is_agent_like:
            try:
                executor_run = executor_run_of(step, response, self.run_id)
            except ValidationError as exc:
                raise UnstorableValueError(
                    f"cannot store the messages of step {step.name!r}: {exc.errors()[0]['msg']}",
                    type_name=type(response).__name__,
                ) from exc
            content = getattr(response, "content", response)
            output = StepOutput(content=content)
        elif isinstance(response, StepOutput):
            output = response
        else:
            output = StepOutput(content=response)
        output.step_name = step.name
        output.step_index = step.index
        output.step_type = step.step_type
        output.executor_type = "function" if step.step_type == "placeholder" else step.step_type
        output.executor_name = step.executor_name
        output.executor_id = step.executor_id
        output.executor_run = executor_run
        return output, executor_run

    def _record_step(
        self,
        step: ResolvedStep,
        received: Any,
        output: StepOutput | None,
        started: float,
        before: dict[str, Any],
        state: dict[str, Any],
        *,
        error: str | None = None,
        executor_run: ExecutorRun | None = None,
    ) -> None:
        duration = time.perf_counter() - started
        fields: dict[str, Any] = {
            "step_name": step.name,
            "step_type": step.step_type,
            "executor_type": "function" if step.step_type == "placeholder" else step.step_type,
            "executor_name": step.executor_name,
            "executor_id": step.executor_id,
            "input": StoredValue.of(received, what=f"input of step {step.name!r}"),
            "metrics": Metrics(duration=duration),
        }
        refusal: UnstorableValueError | None = None
        try:
            after = to_json_value(state, what=f"session_state after step {step.name!r}")
            assert isinstance(after, dict)
            fields["state_changes"] = StateChanges.between(before, after)
            content = output.content if output else None
            fields["content"] = StoredValue.of(content, what=f"output of step {step.name!r}")
        except UnstorableValueError as exc:
            refusal, error = exc, str(exc)
            fields["content"] = StoredValue.of(None)
            fields.setdefault("state_changes", StateChanges())
        success = error is None and (output.success if output else False)
        fields.update(
            success=success,
            error=error or (output.error if output else None),
            executor_run=executor_run,
        )
        self._unsent = lambda s: s.complete_step(
            run_id=self.run_id, user_id=self.user_id, provenance=self.provenance, **fields
        )
        if output is not None:
            output.input = received
            output.metrics = {"duration": duration}
            output.success, output.error = success, fields["error"]
            self.output.step_results.append(output)
            if executor_run is not None:
                self.output.step_executor_runs.append(executor_run)
        if refusal is not None:
            raise refusal

    def _flush(self) -> None:
        """Append the last step's StepCompleted before the next step begins.

        A step's event waits until then (or until the run ends, when it is
        appended with RunCompleted in one commit): a process that dies during
        a step still leaves every earlier step recorded.
        """
        if self._unsent is not None:
            self.db.execute(self.session_id, self._unsent)
            self._unsent = None

    def _finish(
        self,
        status: RunStatus,
        content: Any,
        started: float,
        state: dict[str, Any],
        error: str | None = None,
    ) -> None:
        duration = time.perf_counter() - started
        try:
            after = to_json_value(state, what="session_state")
            assert isinstance(after, dict)
        except UnstorableValueError:
            after = self.output.session_state or {}
        changes = StateChanges.between(self.base_state, after)
        stored = StoredValue.of(content) if status == RunStatus.completed else StoredValue.of(None)

        unsent = self._unsent

        def decide(session: SessionAggregate) -> dict[str, Any]:
            if unsent is not None:
                unsent(session)
            session.complete_run(
                run_id=self.run_id,
                user_id=self.user_id,
                status=status,
                content=stored,
                error=error,
                metrics=Metrics(duration=duration),
                state_changes=changes,
                provenance=self.provenance,
            )
            return dict(session.state)

        self.output.session_state = self.db.execute(self.session_id, decide).result
        self._unsent = None
        self.output.status = status
        self.output.content = content
        self.output.error = error
        self.output.metrics = WorkflowMetrics(
            duration=duration,
            steps={
                s.step_name or str(s.step_index): dict(s.metrics or {})
                for s in self.output.step_results
            },
        )


def _metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"run metadata must be a dict, got {type(metadata).__name__}")
    value = to_json_value(dict(metadata), what="run metadata")
    assert isinstance(value, dict)
    return value


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _slug(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")
