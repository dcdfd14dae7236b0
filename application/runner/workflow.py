"""The Workflow runner: runs steps and records each run as it goes.

RunStarted is appended before the first step, StepCompleted after each step
and RunCompleted at the end, so a process that dies mid-run leaves the run
readable as RUNNING with the steps it finished.

One Workflow object serves a whole service: a call keeps its state in its
own RunRecorder and never writes to the Workflow, so concurrent calls of many
users, threads and tasks share nothing but the steps and the db. A call
without a session_id starts a new session (unless the Workflow was built
with one); it is never pinned on the object for the next caller.

``arun`` drives the same run (:meth:`RunRecorder.events`) from asyncio: on
the event loop when the db never blocks it (``AsyncPostgresDb``,
``AsyncSqliteDb``, ``InMemoryDb``), else in a worker thread; either way an
``async def`` step is awaited and a sync one runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Mapping,
    Sequence,
)
from datetime import datetime
from typing import Any, Literal, TypeVar, overload
from uuid import uuid4

from kern.application import bridge
from kern.application.async_sessions import AsyncKernDb
from kern.application.provenance import provenance, step_fingerprint
from kern.application.replay import replay_run
from kern.application.runner import cancellation
from kern.application.runner.primitives import PRIMITIVE_TYPES
from kern.application.runner.resume import ResumedRun
from kern.application.runner.run import RunRecorder
from kern.application.runner.steps import (
    ResolvedStep,
    Step,
    resolve_step,
    step_key,
)
from kern.application.sessions import KernDb
from kern.domain.errors import (
    AsyncStoreError,
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
    Provenance,
    slug,
    to_json_value,
)
from kern.projections.replay_diff import ReplayReport
from kern.projections.run_events import RunEvent, run_events
from kern.projections.runs import (
    WorkflowChatInteraction,
    WorkflowRunOutput,
)
from kern.projections.session import WorkflowSession

AUTONAME_DESCRIPTION_CHARS = 37

T = TypeVar("T")


class Workflow:
    """A named list of steps, run again and again inside sessions."""

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        db: KernDb | AsyncKernDb | None = None,
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
        self.db: KernDb | AsyncKernDb = db if db is not None else self.new_scratch_db()
        self.steps = list(steps or [])
        self._steps_seen: tuple[Any, ...] | None = None
        self._steps_held: list[tuple[Any, Any, Any]] = []
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

    @overload
    def run(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        stream: Literal[False] = False,
        stream_events: bool | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkflowRunOutput: ...

    @overload
    def run(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        stream: Literal[True],
        stream_events: bool | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Generator[RunEvent, None, None]: ...

    def run(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        stream: bool = False,
        stream_events: bool | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkflowRunOutput | Generator[RunEvent, None, None]:
        """Run every step on ``input`` in the session; record it as it goes.

        A step that raises is retried and then skipped, or ends the run as
        ERROR (recorded with the error text) and the exception propagates, as
        its failure policy says (Step ``max_retries``, ``skip_on_failure``,
        ``human_review.on_error``; Agno's defaults: retried 3 times, skipped).
        ``cancel_run`` from another thread ends it CANCELLED before its next
        step. Invalid input raises before anything is recorded.
        ``correlation_id`` and ``metadata`` (a JSON-able dict) are stored in
        the provenance of every event of the run. Without a
        session_id (here or on the Workflow) the run starts a new session,
        named in the output.

        ``stream=True`` returns an iterator of run events
        (:mod:`kern.projections.run_events`), each yielded once what it
        reflects is stored; the run advances as the iterator is read, and
        closing it early records the run CANCELLED. ``stream_events=False``
        (Agno's name) keeps only the workflow's own events (started, and how
        it ended); the default, as ``True``, streams the steps' too. AsyncStoreError, before
        anything is recorded, for an async step or an async db: use ``arun``.
        """
        recorder = self._recorder(
            input, session_id, user_id, session_state, run_id, correlation_id, metadata
        )
        if stream:
            return _only_steps_if(stream_events, recorder.events(session_state))
        return recorder.execute(session_state)

    @overload
    def arun(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        stream: Literal[False] = False,
        stream_events: bool | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, WorkflowRunOutput]: ...

    @overload
    def arun(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        stream: Literal[True],
        stream_events: bool | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[RunEvent]: ...

    def arun(
        self,
        input: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        stream: bool = False,
        stream_events: bool | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, WorkflowRunOutput] | AsyncIterator[RunEvent]:
        """:meth:`run` for asyncio: ``await workflow.arun(...)``, or with
        ``stream=True`` ``async for event in workflow.arun(...)``.

        Steps may be ``async def`` functions, objects with ``arun`` (awaited)
        or sync callables (run in a worker thread, so they never block the
        loop). History, session state, metrics, errors and events are as in
        :meth:`run`. Cancelling the task (or ``acancel_run``) stops the run
        and records it CANCELLED; what was recorded stays. Invalid input
        raises at the call, before anything is recorded.
        """
        recorder = self._recorder(
            input,
            session_id,
            user_id,
            session_state,
            run_id,
            correlation_id,
            metadata,
            asynchronous=True,
        )
        if stream:
            return _aonly_steps_if(stream_events, self._adrive(recorder, session_state))
        return self._aexecute(recorder, session_state)

    def _recorder(
        self,
        input: Any,
        session_id: str | None,
        user_id: str | None,
        session_state: Mapping[str, Any] | None,
        run_id: str | None,
        correlation_id: str | None,
        metadata: Mapping[str, Any] | None,
        *,
        asynchronous: bool = False,
    ) -> RunRecorder:
        """A run, its arguments checked (nothing is recorded until it is driven)."""
        if not asynchronous:
            self._refuse_async()
        if session_id is None:
            session_id = self.session_id if self.session_id is not None else str(uuid4())
        session_id = validate_session_id(session_id)
        user_id = self.db.user(self._user(user_id))
        _json_dict(session_state, what="session_state")
        if run_id is not None:
            check_text(run_id, what="run_id")
        stamp = self._provenance(correlation_id, metadata)
        return RunRecorder(
            self,
            session_id,
            user_id,
            run_id or str(uuid4()),
            input,
            stamp,
            asynchronous=asynchronous,
        )

    def resume(
        self,
        run_id: str,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkflowRunOutput:
        """Continue the RUNNING run ``run_id`` (left so by a process that stopped
        mid-run) from its first unfinished step, and return its output.

        The finished steps are not run again: their recorded outputs are reused,
        and the remaining steps see the input, previous-step content, session
        state and history they would have seen. RunResumed is recorded, with
        ``correlation_id`` and ``metadata`` in its provenance. Only one caller
        resumes a run: RunAlreadyResumedError for the others. SessionNotFoundError
        for a session that is missing or another user's, RunNotFoundError for a
        run it never started, RunAlreadyFinishedError for one that ended,
        InvalidStepError when this workflow's steps do not begin with the ones
        the run recorded; nothing is written then. See kern.application.runner.resume.
        """
        return self._resumed(run_id, session_id, user_id, correlation_id, metadata).execute(None)

    async def aresume(
        self,
        run_id: str,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> WorkflowRunOutput:
        """:meth:`resume` for asyncio, with steps run as :meth:`arun` runs them."""
        recorder = self._resumed(
            run_id, session_id, user_id, correlation_id, metadata, asynchronous=True
        )
        return await self._aexecute(recorder, None)

    def _resumed(
        self,
        run_id: str,
        session_id: str | None,
        user_id: str | None,
        correlation_id: str | None,
        metadata: Mapping[str, Any] | None,
        *,
        asynchronous: bool = False,
    ) -> ResumedRun:
        """The resumption of ``run_id``, its arguments checked (nothing read yet)."""
        if not asynchronous:
            self._refuse_async()
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
        check_text(run_id, what="run_id")
        stamp = self._provenance(correlation_id, metadata)
        return ResumedRun(
            self,
            self._session_id(session_id),
            self.db.user(self._user(user_id)),
            run_id,
            stamp,
            asynchronous=asynchronous,
        )

    def _provenance(
        self, correlation_id: str | None, metadata: Mapping[str, Any] | None
    ) -> Provenance:
        """What a run's (or a resumption's) events record of who asked, and of this
        workflow's code."""
        return provenance(
            correlation_id=correlation_id,
            workflow_fingerprint=self.fingerprint,
            metadata=_metadata(metadata),
        )

    def _refuse_async(self) -> None:
        """AsyncStoreError when ``run`` cannot run this workflow: an async db, or an
        async step."""
        if isinstance(self.db, AsyncKernDb):
            raise AsyncStoreError(
                f"this workflow's db is an async store ({type(self.db).__name__}): "
                "use `await workflow.arun(...)` instead of run()"
            )
        for step in self._resolved:
            if step.is_async and step.step_type in PRIMITIVE_TYPES:
                raise AsyncStoreError(
                    f"step {step.name!r} runs an async step inside it (an async def "
                    "function, or an agent with arun only): run this workflow with "
                    "`await workflow.arun(...)`"
                )
            if step.is_async:
                raise AsyncStoreError(
                    f"step {step.name!r} is async (an async def function, or an agent "
                    "with arun only): run this workflow with `await workflow.arun(...)`"
                )

    async def _adrive(
        self, recorder: RunRecorder, overrides: Mapping[str, Any] | None
    ) -> AsyncGenerator[RunEvent, None]:
        """Advance the run's events on the loop (a db that never blocks) or in a
        worker thread; cancelling, or leaving the iteration early, records the
        run CANCELLED before CancelledError (or the close) propagates."""
        events = recorder.events(overrides)
        blocking = self._blocking()

        async def advance(call: Callable[..., T], *args: Any) -> T:
            if blocking:
                stop = lambda: cancellation.cancel(recorder.run_id)  # noqa: E731
                return await bridge.off_loop(call, *args, on_cancel=stop)
            return await bridge.portal(call, *args)

        try:
            while (event := await advance(next, events, None)) is not None:
                yield event
        except BaseException:
            if inspect.getgeneratorstate(events) == inspect.GEN_SUSPENDED:
                await advance(events.close)  # records the run CANCELLED
            raise

    async def _aexecute(
        self, recorder: RunRecorder, overrides: Mapping[str, Any] | None
    ) -> WorkflowRunOutput:
        """The whole run in one call on the loop (or in one worker thread): no event
        is handed out, so none needs a trip back to the caller."""
        if self._blocking():
            stop = lambda: cancellation.cancel(recorder.run_id)  # noqa: E731
            return await bridge.off_loop(recorder.execute, overrides, on_cancel=stop)
        return await bridge.portal(recorder.execute, overrides)

    def _blocking(self) -> bool:
        """Whether the db's calls may block their thread (then arun runs off the loop)."""
        return bool(getattr(self.db, "blocking", True))

    def _db(self) -> KernDb:
        """The KernDb this call runs on: the db, or an async db's own KernDb while
        an async call runs (AsyncStoreError from sync code: use the a* methods)."""
        db = self.db
        if isinstance(db, AsyncKernDb):
            if not bridge.active():
                raise AsyncStoreError(
                    f"this workflow's db is an async store ({type(db).__name__}): await "
                    "its a* methods (aget_session, aset_session_name, ...), not the sync ones"
                )
            return db.sync
        return db

    async def _acall(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A sync method of this Workflow, awaited: on the loop, or in a worker thread
        when the db may block."""
        call: Callable[[], T] = lambda: method(*args, **kwargs)  # noqa: E731
        if self._blocking():
            return await bridge.off_loop(call)
        return await bridge.portal(call)

    def cancel_run(self, run_id: str, user_id: str | None = None) -> bool:
        """Ask the run ``run_id``, in flight in this process (any thread or task), to
        stop before its next step; it is then recorded CANCELLED and ``run`` returns
        its output with that status. False when no such run is in flight, or when
        it runs for another user than ``user_id`` (the workflow's, when None; only
        an unscoped call reaches every user's runs)."""
        if not isinstance(run_id, str):
            raise InvalidInputError(f"run_id must be a string, got {type(run_id).__name__}")
        return cancellation.cancel(run_id, self.db.user(self._user(user_id)))

    async def acancel_run(self, run_id: str, user_id: str | None = None) -> bool:
        """:meth:`cancel_run`, awaitable."""
        return self.cancel_run(run_id, user_id)

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
        """Resolve ``steps`` again when they changed since the last run: a new list,
        an item added, removed or replaced, a Step's executor or policy set."""
        seen = tuple(step_key(step) for step in self.steps)
        if seen != self._steps_seen:
            resolved = [resolve_step(i, step) for i, step in enumerate(self.steps)]
            self._resolved_steps, self._fingerprint = resolved, step_fingerprint(resolved)
            # The keys hold ids: keeping the objects keeps their ids from being reused.
            for step in self.steps:
                if isinstance(step, Step):
                    step._workflow = weakref.ref(self)  # what get_chat_history reads
            self._steps_held = [
                (s, getattr(s, "executor", None), getattr(s, "human_review", None))
                for s in self.steps
            ]
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
        return self._db().get_session(
            self._session_id(session_id), self._user(user_id), as_of=as_of
        )

    def get_session_name(self, session_id: str | None = None, user_id: str | None = None) -> str:
        """The session's name ("" when never named); SessionNotFoundError if not visible."""
        return (
            self._db()
            .require_session(self._session_id(session_id), self._user(user_id))
            .session_name
        )

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
        renamed = self._db().rename_session(
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
        return (
            self._db()
            .require_session(self._session_id(session_id), self._user(user_id))
            .session_state
        )

    def update_session_state(
        self,
        session_state_updates: Mapping[str, Any],
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Set keys of the session state (recorded as SessionStateUpdated)."""
        return self._db().update_session_state(
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
        session = self._db().require_session(self._session_id(session_id), self._user(user_id))
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

    def save_session(
        self,
        session: WorkflowSession,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> WorkflowSession:
        """Store what ``session`` changed of its name and state (Agno's
        ``save_session``; see ``KernDb.save_session``). The user is ``user_id``,
        else the session's, else the workflow's."""
        chosen = user_id if user_id is not None else getattr(session, "user_id", None)
        return self._db().save_session(session, self._user(chosen), correlation_id=correlation_id)

    def delete_session(
        self, session_id: str, user_id: str | None = None, *, correlation_id: str | None = None
    ) -> bool:
        """Delete the session (a tombstone; its events stay for audit)."""
        return self._db().delete_session(
            session_id, self._user(user_id), correlation_id=correlation_id
        )

    def get_sessions(self, **filters: Any) -> list[WorkflowSession]:
        """``db.get_sessions`` with the workflow's user_id as the default owner."""
        filters["user_id"] = self._user(filters.get("user_id"))
        return self._db().get_sessions(**filters)

    def get_run_events(
        self,
        run_id: str,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        after: int = 0,
    ) -> list[RunEvent]:
        """The run events of ``run_id`` as recorded, those whose version is greater
        than ``after``: how a client that saw version ``after`` of a stream resumes
        it ([] when the session is not visible to the user)."""
        check_count(after, what="after")
        events = self._db().get_events(self._session_id(session_id), self._user(user_id))
        return run_events(events, run_id, after)

    # -- the same, awaited (names as Agno's) ---------------------------------------

    async def aget_session(
        self,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        as_of: AsOf | None = None,
    ) -> WorkflowSession | None:
        """:meth:`get_session`, awaited."""
        return await self._acall(self.get_session, session_id, user_id, as_of=as_of)

    async def aget_session_name(
        self, session_id: str | None = None, user_id: str | None = None
    ) -> str:
        """:meth:`get_session_name`, awaited."""
        return await self._acall(self.get_session_name, session_id, user_id)

    async def aset_session_name(
        self,
        session_id: str | None = None,
        autogenerate: bool = False,
        session_name: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> WorkflowSession:
        """:meth:`set_session_name`, awaited."""
        return await self._acall(
            self.set_session_name,
            session_id,
            autogenerate,
            session_name,
            user_id,
            correlation_id=correlation_id,
        )

    async def aget_session_state(
        self, session_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        """:meth:`get_session_state`, awaited."""
        return await self._acall(self.get_session_state, session_id, user_id)

    async def aupdate_session_state(
        self,
        session_state_updates: Mapping[str, Any],
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """:meth:`update_session_state`, awaited."""
        return await self._acall(
            self.update_session_state,
            session_state_updates,
            session_id,
            user_id,
            correlation_id=correlation_id,
        )

    async def aget_chat_history(
        self,
        session_id: str | None = None,
        last_n_runs: int | None = None,
        user_id: str | None = None,
    ) -> list[WorkflowChatInteraction]:
        """:meth:`get_chat_history`, awaited."""
        return await self._acall(self.get_chat_history, session_id, last_n_runs, user_id)

    async def aget_run(
        self, run_id: str, session_id: str | None = None, user_id: str | None = None
    ) -> WorkflowRunOutput | None:
        """:meth:`get_run`, awaited."""
        return await self._acall(self.get_run, run_id, session_id, user_id)

    async def aget_last_run_output(
        self, session_id: str | None = None, user_id: str | None = None
    ) -> WorkflowRunOutput | None:
        """:meth:`get_last_run_output`, awaited."""
        return await self._acall(self.get_last_run_output, session_id, user_id)

    async def asave_session(
        self,
        session: WorkflowSession,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> WorkflowSession:
        """:meth:`save_session`, awaited."""
        return await self._acall(self.save_session, session, user_id, correlation_id=correlation_id)

    async def adelete_session(
        self, session_id: str, user_id: str | None = None, *, correlation_id: str | None = None
    ) -> bool:
        """:meth:`delete_session`, awaited."""
        return await self._acall(
            self.delete_session, session_id, user_id, correlation_id=correlation_id
        )

    async def aget_sessions(self, **filters: Any) -> list[WorkflowSession]:
        """:meth:`get_sessions`, awaited."""
        return await self._acall(self.get_sessions, **filters)

    async def aget_run_events(
        self,
        run_id: str,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        after: int = 0,
    ) -> list[RunEvent]:
        """:meth:`get_run_events`, awaited."""
        return await self._acall(self.get_run_events, run_id, session_id, user_id, after=after)

    async def areplay(
        self, run_id: str, session_id: str | None = None, user_id: str | None = None
    ) -> ReplayReport:
        """:meth:`replay`, awaited: async steps are awaited, as ``arun`` runs them."""
        return await self._acall(self.replay, run_id, session_id, user_id)

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
            # Under areplay the steps run as arun runs them (async ones awaited).
            again._recorder(
                started.input.value,
                started.session_id,
                started.user_id,
                started.session_state,
                started.run_id,
                started.provenance.correlation_id,
                started.provenance.metadata,
                asynchronous=bridge.active(),
            ).execute(started.session_state)

        return replay_run(
            self._db().store,
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


_WORKFLOW_EVENTS = ("WorkflowStarted", "WorkflowCompleted", "WorkflowError", "WorkflowCancelled")


def _only_steps_if(
    stream_events: bool | None, events: Generator[RunEvent, None, None]
) -> Generator[RunEvent, None, None]:
    """``events``, without the steps' events when ``stream_events`` is False."""
    if stream_events is not False:
        return events

    def workflow_events() -> Generator[RunEvent, None, None]:
        with contextlib.closing(events):
            yield from (e for e in events if e.event in _WORKFLOW_EVENTS)

    return workflow_events()


def _aonly_steps_if(
    stream_events: bool | None, events: AsyncGenerator[RunEvent, None]
) -> AsyncIterator[RunEvent]:
    """:func:`_only_steps_if` for ``arun``."""
    if stream_events is not False:
        return events

    async def workflow_events() -> AsyncIterator[RunEvent]:
        try:
            async for event in events:
                if event.event in _WORKFLOW_EVENTS:
                    yield event
        finally:
            await events.aclose()

    return workflow_events()
