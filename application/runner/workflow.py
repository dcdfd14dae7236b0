"""The Workflow runner: runs steps and records each run as it goes.

RunStarted is appended before the first step, StepCompleted after each step
and RunCompleted at the end, so a process that dies mid-run leaves the run
readable as RUNNING with the steps it finished.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from kern.application.provenance import provenance, step_fingerprint
from kern.application.replay import replay_run
from kern.application.runner.run import RunRecorder
from kern.application.runner.steps import (
    ResolvedStep,
    resolve_step,
)
from kern.application.sessions import KernDb
from kern.domain.errors import (
    InvalidInputError,
    InvalidSessionIdError,
    InvalidSessionNameError,
    SessionNotFoundError,
)
from kern.domain.events import RunStarted
from kern.domain.identity import (
    check_count,
    check_flag,
    check_text,
    validate_session_id,
    validate_user_id,
)
from kern.domain.values import (
    AsOf,
    slug,
    to_json_value,
)
from kern.projections.replay_diff import ReplayReport
from kern.projections.runs import (
    WorkflowChatInteraction,
    WorkflowRunOutput,
)
from kern.projections.session import WorkflowSession

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
        """InvalidInputError (or its kinds) for an argument Kern could not use or
        store, raised here, before any run records anything."""
        for what, text in (("workflow_name", name), ("description", description), ("id", id)):
            check_text(text, what=f"Workflow {what}")
        if session_id is not None:
            validate_session_id(session_id)
        validate_user_id(user_id)
        check_flag(add_workflow_history_to_steps, what="add_workflow_history_to_steps")
        check_count(num_history_runs, what="num_history_runs")
        _json_dict(session_state, what="Workflow session_state")
        _json_dict(metadata, what="Workflow metadata")
        self.name = name
        self.description = description
        self.id = id or slug(name) or None
        # Without a db, runs still keep their history, in this process only.
        self.db: KernDb = db if db is not None else self.new_scratch_db()
        self.steps = list(steps or [])
        self._steps_seen: tuple[int, ...] | None = None
        self._resolved_steps: list[ResolvedStep] = []
        self._fingerprint = ""
        self._resolve()  # a step Kern cannot run is refused here, before any run
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
        user_id = self.db.user(self._user(user_id))
        _json_dict(session_state, what="session_state")
        stamp = provenance(
            correlation_id=correlation_id,
            workflow_fingerprint=self.fingerprint,
            metadata=_metadata(metadata),
        )
        run = RunRecorder(self, session_id, user_id, run_id or str(uuid4()), input, stamp)
        return run.execute(session_state)

    @property
    def fingerprint(self) -> str:
        """``sha256:...`` of the steps' names, kinds and code (see kern.application.provenance).

        Computed once per set of steps: reading every step's source on every
        run cost a tenth of a run."""
        self._resolve()
        return self._fingerprint

    @property
    def _resolved(self) -> list[ResolvedStep]:
        """The steps as the runner runs them, resolved again when ``steps`` changed."""
        self._resolve()
        return self._resolved_steps

    def _resolve(self) -> None:
        seen = tuple(id(step) for step in self.steps)
        if seen != self._steps_seen:
            resolved = [resolve_step(i, step) for i, step in enumerate(self.steps)]
            self._resolved_steps, self._fingerprint = resolved, step_fingerprint(resolved)
            self._steps_seen = seen

    # -- sessions ----------------------------------------------------------------

    def _user(self, user_id: str | None) -> str | None:
        """The user a call acts as: the one it names, else the workflow's. Only None
        means "not given": an empty string is a user like any other."""
        return self.user_id if user_id is None else user_id

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
        return self.db.get_session(self._session_id(session_id), self._user(user_id), as_of=as_of)

    def get_session_name(self, session_id: str | None = None, user_id: str | None = None) -> str:
        """The session's name ("" when never named); SessionNotFoundError if not visible."""
        return self.db.require_session(
            self._session_id(session_id), self._user(user_id)
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
        session_id = self._session_id(session_id)
        renamed = self.db.rename_session(
            session_id,
            session_name,
            self._user(user_id),
            autogenerated=autogenerate,
            correlation_id=correlation_id,
        )
        if renamed is None:
            raise SessionNotFoundError.of(session_id)
        return renamed

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
            self._session_id(session_id), self._user(user_id)
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
            self._user(user_id),
            correlation_id=correlation_id,
        )

    def get_chat_history(
        self,
        session_id: str | None = None,
        last_n_runs: int | None = None,
        user_id: str | None = None,
    ) -> list[WorkflowChatInteraction]:
        """Input/output pairs of the session's last runs."""
        check_count(last_n_runs, what="last_n_runs")
        session = self.db.require_session(self._session_id(session_id), self._user(user_id))
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
            session_id, self._user(user_id), correlation_id=correlation_id
        )

    def get_sessions(self, **filters: Any) -> list[WorkflowSession]:
        """``db.get_sessions`` with the workflow's user_id as the default owner."""
        filters["user_id"] = self._user(filters.get("user_id"))
        return self.db.get_sessions(**filters)

    # -- replay (kern.application.replay) -----------------------------------------------

    def replay(
        self, run_id: str, session_id: str | None = None, user_id: str | None = None
    ) -> ReplayReport:
        """Run the recorded input of ``run_id`` again through the current steps, from
        the history and session state that run had, and compare step by step.

        Runs in a scratch in-memory store: the session is never written. A step
        that raises is reported in the diff, not raised. RunNotFoundError for a
        run the session never started; SessionNotFoundError if not visible.
        """

        def rerun(scratch: KernDb, started: RunStarted) -> None:
            again = copy.copy(self)
            again.db, again.user_id = scratch, None
            again.run(
                input=started.input.value,
                session_id=started.session_id,
                user_id=started.user_id,
                session_state=started.session_state,
                run_id=started.run_id,
                correlation_id=started.provenance.correlation_id,
                metadata=started.provenance.metadata,
            )

        return replay_run(
            self.db.store,
            run_id,
            self._session_id(session_id),
            self._user(user_id),
            scratch=self.new_scratch_db(),
            rerun=rerun,
        )

    def new_scratch_db(self) -> KernDb:
        """A new, empty store in this process's memory: the db of a Workflow built
        without one, and where :meth:`replay` runs. This layer builds no store:
        ``kern.workflow.Workflow``, the class users import, supplies it."""
        raise NotImplementedError(
            "this Workflow has no way to make an in-memory store: "
            "use kern.workflow.Workflow, or pass db="
        )

    # -- helpers for RunRecorder ----------------------------------------------------------

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


def _metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return _json_dict(metadata, what="run metadata")


def _json_dict(value: object, *, what: str) -> dict[str, Any] | None:
    """The JSON form of a dict argument (None stays None); InvalidInputError for
    anything but a mapping, UnstorableValueError for one Kern cannot store."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a dict, got {type(value).__name__}")
    stored = to_json_value(dict(value), what=what)
    assert isinstance(stored, dict)
    return stored
