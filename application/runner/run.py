"""One run of a workflow, recorded as it goes.

RunStarted is appended before the first step, StepCompleted after each step
and RunCompleted at the end, so a process that dies mid-run leaves the run
readable as RUNNING with the steps it finished. A step's StepCompleted waits
until the next step begins, or is committed with RunCompleted for the last
step: one commit fewer per run, and the same guarantee.

:meth:`RunRecorder.events` is the run: a generator that yields a run event
(:mod:`kern.projections.run_events`) each time what it reflects is stored.
``run`` drains it in the caller's thread; ``arun`` advances it on the event
loop or in a worker thread (see ``kern.application.runner.workflow``), and then
steps are awaited (``async def``, ``arun``) or run in a worker thread (sync
ones) through :mod:`kern.application.bridge`, so they never block the loop.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
import time
import traceback
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from kern.application import bridge
from kern.application.runner import cancellation, nesting
from kern.application.runner.primitives import PRIMITIVE_TYPES
from kern.application.runner.steps import (
    OnError,
    ResolvedStep,
    RunContext,
    SessionViews,
    StepInput,
    executor_run_of,
)
from kern.application.runner.values import (
    RUN_INPUT,
    RecordedValues,
    SymbolicRefs,
    history_part,
)
from kern.domain.aggregate import SessionAggregate
from kern.domain.errors import (
    AsyncStoreError,
    RunCancelledError,
    StepFailedError,
    UnstorableValueError,
)
from kern.domain.events import RunCompleted, RunStarted, SessionEvent, StepCompleted
from kern.domain.values import (
    ExecutorRun,
    Metrics,
    Provenance,
    RunStatus,
    StateChanges,
    StoredValue,
    storable_text,
    to_json_value,
    type_tag,
)
from kern.projections import run_events
from kern.projections.run_events import RunEvent
from kern.projections.runs import StepOutput, WorkflowMetrics, WorkflowRunOutput
from kern.projections.session import history_text

if TYPE_CHECKING:
    from kern.application.runner.workflow import Workflow


class Received(NamedTuple):
    """What a step received: the object itself, and how its StepCompleted records it."""

    raw: Any
    stored: StoredValue
    refs: SymbolicRefs


class RunRecorder:
    """One execution of a workflow, recording events as it goes."""

    def __init__(
        self,
        workflow: Workflow,
        session_id: str,
        user_id: str | None,
        run_id: str,
        input: Any,
        provenance: Provenance,
        *,
        asynchronous: bool = False,
    ) -> None:
        self.asynchronous = asynchronous
        """Run for ``arun``: steps are awaited or run in a worker thread."""
        self.provenance = provenance
        self.workflow = workflow
        metadata = provenance.metadata
        self.session_id = session_id
        self.user_id = user_id
        self.run_id = run_id
        self.input = input
        # StepCompleted events waiting for the next commit, and the outputs they record.
        self._unsent: list[Callable[[SessionAggregate], StepCompleted]] = []
        self._unsent_outputs: list[StepOutput | None] = []
        self._recorded_steps = 0
        self._run_started: RunStarted | None = None
        self._last: SessionEvent | None = None
        self._cancel = threading.Event()
        self.values = RecordedValues()
        self._history_part: str | None = None
        self.resumption = 0
        """How many times the run was resumed when this writer took it over: once
        another writer resumes it, this one's appends are refused."""
        self.earlier = 0.0
        """Seconds the run's steps took before this call (a resumed run's)."""
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
        """The run, to its end; its output."""
        for _ in self.events(overrides):
            pass
        return self.output

    def events(self, overrides: Mapping[str, Any] | None) -> Generator[RunEvent, None, None]:
        """Run the workflow, yielding each run event once what it reflects is stored.

        A step whose attempts all raise is skipped, or, under its policy
        ``on_error="fail"``, ends the run as ERROR (a WorkflowErrorEvent is
        yielded, then the exception propagates); ``cancel_run`` ends it CANCELLED before
        the next step (a WorkflowCancelledEvent, no exception). Closing the
        generator, or cancelling the task that advances it, records the run
        CANCELLED and propagates."""
        try:
            yield from self._events(overrides)
        finally:
            cancellation.unregister(self.run_id, self._cancel)

    def _events(self, overrides: Mapping[str, Any] | None) -> Generator[RunEvent, None, None]:
        self.db = self.workflow._db()  # here, not at construction: arun builds it off the loop
        started = time.perf_counter()
        before_run = self._begin(overrides)
        started -= self.earlier
        assert self._run_started is not None
        # Only once RunStarted is stored: a second run of this run_id is refused
        # before it could take the first one's place here.
        self._cancel = cancellation.register(self.run_id, self.user_id)
        store = self.db.store
        views = SessionViews(
            lambda: store.read(self.session_id, upto=before_run),
            lambda: store.history(self.session_id, before_run),
        )
        state: dict[str, Any] = dict(self.output.session_state or {})
        self.output.status = RunStatus.running
        step_input = StepInput(input=self.input, session_state=state, views=views)
        self._carry_over(step_input)
        try:
            yield run_events.started(self._run_started)  # closing here ends the run too
            for step in self._steps():
                if step.step_type in PRIMITIVE_TYPES:
                    output = yield from self._run_primitive(step, step_input)
                else:
                    yield from self._before_step(step.name)
                    yield self._step_started(step)
                    _after_primitive(step_input)
                    output = self._run_step(step, step_input)
                if output.stop:
                    break
        except RunCancelledError as exc:
            yield from self._finish(RunStatus.cancelled, None, started, state, failure=exc)
            return
        except GeneratorExit as exc:  # the consumer stopped: nothing more may be yielded
            for _ in self._finish(RunStatus.cancelled, None, started, state, failure=exc):
                pass
            raise
        except BaseException as exc:
            status = RunStatus.error if isinstance(exc, Exception) else RunStatus.cancelled
            finished = list(self._finish(status, None, started, state, failure=exc))
            if isinstance(exc, Exception):
                yield from finished
            raise
        content = _deepest(self.output.step_results[-1]) if self.output.step_results else None
        yield from self._finish(RunStatus.completed, content, started, state)

    def _begin(self, overrides: Mapping[str, Any] | None) -> int:
        """Record the run's start (RunStarted); the version before it, where the
        session's history stops. A resumed run records RunResumed instead
        (:mod:`kern.application.runner.resume`)."""
        stored_input = StoredValue.of(self.input, what="run input")
        extra = to_json_value(dict(overrides or {}), what="session_state")
        seed = to_json_value(self.workflow.session_state or {}, what="workflow session_state")
        assert isinstance(extra, dict) and isinstance(seed, dict)
        before_run = self._start(stored_input, seed, extra)
        self.values.add(RUN_INPUT, self.input, stored_input.value, version=before_run + 1)
        return before_run

    def _carry_over(self, step_input: StepInput) -> None:
        """Give ``step_input`` what the finished steps left (none, for a new run)."""

    def _steps(self) -> list[ResolvedStep]:
        """The steps this call runs: every one, for a new run."""
        return self.workflow._resolved

    def _before_step(self, name: str | None) -> Generator[RunEvent, None, None]:
        """Commit the step before; RunCancelledError when the run was cancelled."""
        yield from self._flush()
        if self._cancel.is_set():
            raise RunCancelledError(
                f"run {self.run_id!r} was cancelled before step {name!r}",
                session_id=self.session_id,
                run_id=self.run_id,
            )

    def _step_started(self, step: ResolvedStep, path: str = "") -> RunEvent:
        assert self._run_started is not None and self._last is not None
        index = int(path.split(".")[0]) - 1 if path else step.index
        return run_events.step_started(
            self._last, self._run_started, step.name, index, path=path or None
        )

    # -- step primitives (kern.application.runner.primitives) -------------------------

    def _run_primitive(
        self, step: ResolvedStep, step_input: StepInput
    ) -> Generator[RunEvent, None, StepOutput]:
        """A top-level Steps, Parallel, Condition, Loop or Router, every step inside
        it recorded with its path."""
        yield from self._before_step(step.name)
        output = yield from nesting.run_node(self, step, step_input, str(step.index + 1))
        step_input.previous_step_outputs[step.name] = output
        step_input.previous_step_content = output.content
        return output

    def run_leaf(
        self, step: ResolvedStep, step_input: StepInput, path: str
    ) -> Generator[RunEvent, None, StepOutput]:
        """Run a plain step inside a primitive, at ``path``."""
        yield from self._before_step(step.name)
        yield self._step_started(step, path)
        return self._run_step(step, step_input, path)

    def record_node(
        self,
        node: ResolvedStep,
        step_input: StepInput,
        output: StepOutput | None,
        path: str,
        started: float,
        failure: BaseException | None = None,
    ) -> Generator[RunEvent, None, None]:
        """Record a primitive's own step (after its inner steps, which hold the
        state changes: its own event records none); its duration is from
        ``started`` (``time.perf_counter``), so it covers its steps'."""
        if failure is None:
            yield from self._flush()
        raw = {"input": step_input.input, "previous_step_content": step_input.previous_step_content}
        received = Received(
            raw,
            *self.values.received(
                raw, function_step=True, history=None, what=f"input of step {node.name!r}"
            ),
        )
        now = to_json_value(step_input.session_state, what="session_state")
        assert isinstance(now, dict)
        if output is not None:
            self._label(node, output, path)
        self._record_step(
            node,
            received,
            output,
            started,
            now,
            step_input.session_state,
            failure=failure,
            path=path,
        )

    def node_event(
        self, event: str, node: ResolvedStep, path: str, **fields: Any
    ) -> Generator[RunEvent, None, None]:
        """A run event about a primitive (not stored), once the steps before it are."""
        yield from self._flush()
        assert self._run_started is not None and self._last is not None
        yield run_events.primitive_event(
            event, self._last, self._run_started, node.executor.result_name, path, **fields
        )

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A primitive's evaluator, selector or end condition, called as steps are."""
        bound: Callable[[Any], Any] = lambda _: fn(*args, **kwargs)  # noqa: E731
        return self._call(bound, None, awaited=inspect.iscoroutinefunction(fn))

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
        run_started = executed.events[-1]
        assert isinstance(run_started, RunStarted)
        self._run_started = self._last = run_started
        return run_started.version - 1

    def _run_step(self, step: ResolvedStep, step_input: StepInput, path: str = "") -> StepOutput:
        before = to_json_value(step_input.session_state, what="session_state")
        assert isinstance(before, dict)
        window = self.workflow._history_window(step)
        context = (
            step_input.get_workflow_history_context(num_runs=window) if window is not None else None
        )
        self._history_part = (
            history_part(step_input, context, window) if context is not None else None
        )
        raw, call = self._prepare(step, step_input, context)
        # Recorded before the call: a step that changes what it was given in place
        # must not change the record of what it received.
        received = Received(
            raw,
            *self.values.received(
                raw,
                function_step=not step.is_agent_like,
                history=self._history_part,
                what=f"input of step {step.name!r}",
            ),
        )
        started = time.perf_counter()
        try:
            response = self._attempts(step, call)
        except Exception as exc:
            if not retryable(exc) or _failure_ends_run(step):
                # Kern's own refusals, and a step whose policy ends the run: recorded, raised.
                failed = StepOutput(content=message_of(exc)) if retryable(exc) else None
                self._fail_step(step, received, failed, started, before, step_input, exc, path)
                raise
            response = _skipped(step, exc)
            failure: Exception | None = exc
        except BaseException as exc:
            self._fail_step(step, received, None, started, before, step_input, exc, path)
            raise
        else:
            failure = None
        try:
            output, executor_run = self._normalise(step, response)
        except UnstorableValueError as exc:
            # The step ran but what it returned cannot be stored: record it as failed.
            self._fail_step(step, received, None, started, before, step_input, exc, path)
            raise
        if path:
            output.step_index = int(path.split(".")[0]) - 1
        self._record_step(
            step,
            received,
            output,
            started,
            before,
            step_input.session_state,
            failure=failure,
            executor_run=executor_run,
            path=path,
        )
        if not path:
            step_input.previous_step_outputs[step.name] = output
            step_input.previous_step_content = output.content
        if not output.success and _failure_ends_run(step):
            raise StepFailedError(
                output.error or f"Step {step.name} reported failure",
                session_id=self.session_id,
                run_id=self.run_id,
                step_name=step.name,
            )
        return output

    def _fail_step(
        self,
        step: ResolvedStep,
        received: Received,
        output: StepOutput | None,
        started: float,
        before: dict[str, Any],
        step_input: StepInput,
        exc: BaseException,
        path: str = "",
    ) -> None:
        """Record the step as failed by ``exc`` (the run then ends); ``output``, when
        given, is what its step result shows (Agno's: the error's text)."""
        if output is not None:
            self._label(step, output, path)
        state = step_input.session_state
        self._record_step(step, received, output, started, before, state, failure=exc, path=path)

    def _attempts(self, step: ResolvedStep, call: Callable[[], Any]) -> Any:
        """``call()``, tried again after an exception up to ``step.max_retries`` more
        times (Agno's retries: at once, no wait); each attempt that raised is
        recorded as a StepAttemptFailed. The last attempt's exception propagates.
        A cancel_run between attempts ends the run before the next one."""
        try:
            # The first attempt needs no retry machinery (a tenth of a step's cost).
            return self._attempt(step, 1, call)
        except Exception as exc:
            if not retryable(exc) or step.max_retries == 0:
                raise
        for attempt in Retrying(
            stop=stop_after_attempt(step.max_retries),
            retry=retry_if_exception(retryable),
            reraise=True,
        ):
            with attempt:
                number = attempt.retry_state.attempt_number + 1
                if self._cancel.is_set():
                    raise RunCancelledError(
                        f"run {self.run_id!r} was cancelled before attempt {number} "
                        f"of step {step.name!r}",
                        session_id=self.session_id,
                        run_id=self.run_id,
                    )
                return self._attempt(step, number, call)
        raise AssertionError("unreachable: tenacity returns or reraises")  # pragma: no cover

    def _attempt(self, step: ResolvedStep, number: int, call: Callable[[], Any]) -> Any:
        """One attempt: ``call()``, recorded as failed if it raised a retryable error."""
        started = time.perf_counter()
        try:
            return call()
        except Exception as exc:
            if retryable(exc):
                self._record_attempt(step, number, exc, time.perf_counter() - started)
            raise

    def _record_attempt(
        self, step: ResolvedStep, number: int, exc: Exception, duration: float
    ) -> None:
        """Append the StepAttemptFailed of one attempt of ``step`` (its own commit:
        the audit shows it even when the process dies in the next attempt)."""
        failed = failure_fields(exc)
        error = failed["error"]
        assert error is not None

        def decide(session: SessionAggregate) -> None:
            session.fail_step_attempt(
                run_id=self.run_id,
                user_id=self.user_id,
                provenance=self.provenance,
                step_name=step.name,
                attempt=number,
                max_retries=step.max_retries,
                error=error,
                error_type=failed["error_type"],
                traceback=failed["traceback"],
                metrics=Metrics(duration=duration),
            )

        self.db.execute(self.session_id, decide)

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
            if self.asynchronous and step.has_arun:
                return message, lambda: self._call(step.executor.arun, message, awaited=True)
            return message, lambda: self._call(step.executor.run, message, awaited=False)
        received = {
            "input": step_input.input,
            "previous_step_content": step_input.previous_step_content,
            "workflow_history_context": context,
        }
        executor = step.executor
        if step.takes_run_context:
            executor = functools.partial(executor, run_context=self._run_context(step_input))
        return received, lambda: self._call(executor, step_input, awaited=step.is_async)

    def _run_context(self, step_input: StepInput) -> RunContext:
        """The RunContext a step is passed: its own object, the run's state dict."""
        workflow = self.workflow
        layers = [workflow.metadata, self.provenance.metadata]
        metadata = {k: v for layer in layers if layer for k, v in copy.deepcopy(layer).items()}
        return RunContext(
            run_id=self.run_id,
            session_id=self.session_id,
            user_id=self.user_id,
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            metadata=metadata if any(layer is not None for layer in layers) else None,
            session_state=step_input.session_state,
        )

    def _call(self, fn: Callable[[Any], Any], argument: Any, *, awaited: bool) -> Any:
        """``fn(argument)`` as this run calls steps: directly for ``run``; for ``arun``
        an ``awaited`` one (async, as resolve_step found) is awaited and any other
        runs in a worker thread (what it returns is awaited if it is awaitable)."""
        if not self.asynchronous:
            response = fn(argument)
            if inspect.isawaitable(response):
                if inspect.iscoroutine(response):
                    response.close()  # refused: no "never awaited" warning on top
                raise AsyncStoreError(
                    f"step {getattr(fn, '__name__', fn)!r} returned an awaitable: "
                    "run this workflow with `await workflow.arun(...)`"
                )
            return response
        if awaited:
            return bridge.wait(fn(argument))
        response = bridge.in_thread(fn, argument)
        return bridge.wait(response) if inspect.isawaitable(response) else response

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
        self._label(step, output, "")
        output.executor_run = executor_run
        return output, executor_run

    @staticmethod
    def _label(step: ResolvedStep, output: StepOutput, path: str) -> None:
        """Name ``output`` after the step that made it (a primitive keeps the name
        and type it gave itself, as Agno's do)."""
        if step.step_type in PRIMITIVE_TYPES:
            output.step_type = step.step_type
            output.executor_type = output.executor_type or step.step_type.lower()
        else:
            output.step_name = step.name
            output.step_type = step.step_type
            output.executor_type = "function" if step.step_type == "placeholder" else step.step_type
            output.executor_name = step.executor_name
            output.executor_id = step.executor_id
        output.step_index = int(path.split(".")[0]) - 1 if path else step.index

    def _record_step(
        self,
        step: ResolvedStep,
        received: Received,
        output: StepOutput | None,
        started: float,
        before: dict[str, Any],
        state: dict[str, Any],
        *,
        failure: BaseException | None = None,
        executor_run: ExecutorRun | None = None,
        path: str = "",
    ) -> None:
        duration = time.perf_counter() - started
        primitive = step.step_type in PRIMITIVE_TYPES
        fields: dict[str, Any] = {
            "step_name": output.step_name if primitive and output else step.name,
            "step_type": step.step_type,
            "executor_type": (
                (output.executor_type if output else None) or step.step_type.lower()
                if primitive
                else "function"
                if step.step_type == "placeholder"
                else step.step_type
            ),
            "executor_name": output.executor_name if primitive and output else step.executor_name,
            "executor_id": step.executor_id,
            "metrics": Metrics(duration=duration),
            "path": path if "." in path else "",
            **failure_fields(failure),
        }
        if primitive and output is None:
            fields["step_name"] = step.executor.result_name
        error = fields.pop("error")
        token = self._recorded_steps if output is not None else None
        self._recorded_steps += 1
        fields["input"], refs = received.stored, dict(received.refs)
        refusal: UnstorableValueError | None = None
        try:
            after = to_json_value(state, what=f"session_state after step {step.name!r}")
            assert isinstance(after, dict)
            fields["state_changes"] = StateChanges.between(before, after)
            content = output.content if output else None
            fields["content"], content_refs = self.values.value(
                "content", content, what=f"output of step {step.name!r}"
            )
            refs.update(content_refs)
            if token is not None:
                self.values.add(token, content, fields["content"].value)
        except UnstorableValueError as exc:
            refusal, error = exc, str(exc)
            fields.update(error_type=type_tag(exc), traceback=None)
            fields["content"] = StoredValue.of(None)
            fields.setdefault("state_changes", StateChanges())
        success = error is None and (output.success if output else False)
        fields.update(
            success=success,
            error=error or (storable_text(output.error) if output and output.error else None),
            executor_run=executor_run,
        )
        values = self.values

        def unsent(session: SessionAggregate) -> StepCompleted:
            event = session.complete_step(
                run_id=self.run_id,
                user_id=self.user_id,
                resumption=self.resumption,
                provenance=self.provenance,
                refs=values.versioned(refs),
                **fields,
            )
            if token is not None:
                values.stored_at(token, event.version)
            return event

        self._unsent.append(unsent)
        self._unsent_outputs.append(output)
        if output is not None:
            output.input = received.raw
            output.metrics = {"duration": duration}
            output.success, output.error = success, fields["error"]
            output.error_type, output.traceback = fields["error_type"], fields["traceback"]
            if not fields["path"]:
                self.output.step_results.append(output)
            if executor_run is not None:
                self.output.step_executor_runs.append(executor_run)
        if refusal is not None:
            raise refusal

    def _flush(self) -> Generator[RunEvent, None, None]:
        """Append the last step's StepCompleted before the next step begins.

        A step's event waits until then (or until the run ends, when it is
        appended with RunCompleted in one commit): a process that dies during
        a step still leaves every earlier step recorded.
        """
        if self._unsent:
            executed = self.db.execute(self.session_id, _all(self._unsent))
            self._unsent = []
            yield from self._reflect(executed.events)

    def _reflect(self, events: list[SessionEvent]) -> Generator[RunEvent, None, None]:
        """The run events of ``events``, just stored."""
        run = self._run_started
        assert run is not None
        for event in events:
            if isinstance(event, StepCompleted):
                output = self._unsent_outputs.pop(0) if self._unsent_outputs else None
                content = output.content if output is not None else None
                yield run_events.step_completed(event, run, content)
            elif isinstance(event, RunCompleted):
                steps = [s.step_name or "" for s in self.output.step_results]
                yield run_events.finished(event, run, self.output.content, steps)
            self._last = event

    def _finish(
        self,
        status: RunStatus,
        content: Any,
        started: float,
        state: dict[str, Any],
        failure: BaseException | None = None,
    ) -> Generator[RunEvent, None, None]:
        duration = time.perf_counter() - started
        try:
            after = to_json_value(state, what="session_state")
            assert isinstance(after, dict)
        except UnstorableValueError:
            after = self.output.session_state or {}
        changes = StateChanges.between(self.base_state, after)
        if status == RunStatus.completed:
            stored, refs = self.values.value("content", content, what="run output")
        else:
            stored, refs = StoredValue.of(None), {}

        unsent, self._unsent = self._unsent, []
        failed = failure_fields(failure)
        values = self.values

        def decide(session: SessionAggregate) -> dict[str, Any]:
            for record in unsent:
                record(session)
            session.complete_run(
                run_id=self.run_id,
                user_id=self.user_id,
                status=status,
                content=stored,
                refs=values.versioned(refs),
                metrics=Metrics(duration=duration),
                state_changes=changes,
                provenance=self.provenance,
                resumption=self.resumption,
                **failed,
            )
            return dict(session.state)

        # A run being cancelled is still recorded as such.
        executed = bridge.shielded(self.db.execute, self.session_id, decide)
        self.output.session_state = executed.result
        self.output.status = status
        self.output.content = content
        self.output.error = failed["error"]
        self.output.error_type = failed["error_type"]
        self.output.traceback = failed["traceback"]
        self.output.metrics = WorkflowMetrics.of(duration, self.output.step_results)
        yield from self._reflect(executed.events)


def retryable(exc: BaseException) -> bool:
    """Whether a step's exception counts as a failed attempt (Agno: any Exception
    but a cancellation). Kern's refusals (a cancel, an awaitable from a sync
    run) are not: another attempt could not change them."""
    return isinstance(exc, Exception) and not isinstance(
        exc, RunCancelledError | AsyncStoreError | UnstorableValueError
    )


def _failure_ends_run(step: ResolvedStep) -> bool:
    """A failed step ends the run (Agno: ``on_error="fail"`` without ``skip_on_failure``)."""
    return step.on_error is OnError.fail and not step.skip_on_failure


def _skipped(step: ResolvedStep, exc: Exception) -> StepOutput:
    """What a step whose attempts all raised is recorded as, under Agno's wording:
    ``skip_on_failure`` first, else ``on_error="skip"``."""
    if step.skip_on_failure:
        content = f"Step {step.name} failed but skipped"
    else:
        content = f"Step skipped due to error: {message_of(exc)}"
    return StepOutput(content=content, success=False, error=error_text(exc))


def message_of(exc: BaseException) -> str:
    """``str(exc)`` as a text every store keeps (Agno's wording of an error); a
    broken ``__str__`` reads as :func:`error_text` does."""
    try:
        return storable_text(str(exc))
    except Exception:  # a broken __str__ must not lose the run
        return error_text(exc)


def _deepest(output: StepOutput) -> Any:
    """The content of a step's last inner step, deepest first (a plain step's own):
    what Agno hands on after a step primitive, and a run's content when it ends
    with one."""
    while output.steps:
        output = output.steps[-1]
    return output.content


def _after_primitive(step_input: StepInput) -> None:
    """Hand a plain step the deepest content of a primitive just before it, as Agno's
    Step does (a primitive's own evaluator or selector sees the primitive's content)."""
    if step_input.previous_step_outputs:
        last = list(step_input.previous_step_outputs.values())[-1]
        if last.steps:
            step_input.previous_step_content = _deepest(last)


def _all(
    unsent: list[Callable[[SessionAggregate], StepCompleted]],
) -> Callable[[SessionAggregate], list[StepCompleted]]:
    """One decision recording every waiting StepCompleted, in order."""
    return lambda session: [record(session) for record in unsent]


def failure_fields(exc: BaseException | None) -> dict[str, str | None]:
    """``error``, ``error_type`` and ``traceback`` of a StepCompleted or RunCompleted
    for ``exc`` (all None without one), each a text every store can keep.

    Whatever the exception does, this does not raise: a message with a lone
    surrogate keeps it escaped, and an exception whose ``__str__`` raises is
    named by its type and what went wrong reading it.
    """
    if exc is None:
        return {"error": None, "error_type": None, "traceback": None}
    return {
        "error": error_text(exc),
        "error_type": type_tag(exc),
        "traceback": storable_text("".join(traceback.format_exception(exc))),
    }


def error_text(exc: BaseException) -> str:
    """The message of ``exc`` as Kern records it (its type's name when empty)."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception as unreadable:  # a broken __str__ must not lose the run
        return f"{name} (its message could not be read: {type(unreadable).__name__})"
    return storable_text(message) or name
