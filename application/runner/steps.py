"""Steps of a workflow: what they are, what they receive, how they are called.

A step is a plain callable ``fn(step_input) -> StepOutput | Any`` (or an
``async def`` one), a :class:`Step` wrapping an executor, or an agent-like
object (it has ``run(message)`` or ``arun(message)`` returning something with
``.content``). ``...`` stands for a step that hands its input on unchanged,
so the seed snippets run as written. Async steps run under
``Workflow.arun`` only (:attr:`ResolvedStep.is_async`). A function with a
``run_context`` parameter also gets the run's :class:`RunContext`.

A step that raises is tried again, up to ``Step(max_retries=3)`` more times;
once its attempts are used up, ``skip_on_failure`` and its
``HumanReview(on_error=...)`` decide whether the run goes on without it
(Agno's defaults: it does) or ends as ERROR (see kern.application.runner.run).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

from kern.domain.errors import InvalidStepError
from kern.domain.events import SessionEvent
from kern.domain.identity import check_count, check_flag
from kern.domain.values import ExecutorMessage, ExecutorRun, RunStatus, slug, to_json_value
from kern.projections.fold import project_session
from kern.projections.history import HistoryView
from kern.projections.runs import StepOutput
from kern.projections.session import WorkflowSession


class HistorySource(Protocol):
    """What answers a step's history questions (a read model or a history view)."""

    def get_workflow_history(self, num_runs: int | None = None) -> list[tuple[str, str]]:
        """(input, output) text pairs of the last ``num_runs`` COMPLETED runs."""
        ...

    def get_workflow_history_context(self, num_runs: int | None = None) -> str | None:
        """The ``<workflow_history_context>`` text of those runs, or None."""
        ...


class SessionViews:
    """The session as it stood when a run started, built only when asked for.

    ``session`` is the full read model; ``history`` the store's run history
    as of that version, which answers the history queries without folding
    the session (see kern.projections.history).
    """

    def __init__(
        self,
        load: Callable[[], Sequence[SessionEvent]],
        load_history: Callable[[], HistoryView],
    ) -> None:
        self._load = load
        self._load_history = load_history

    @cached_property
    def events(self) -> Sequence[SessionEvent]:
        """The session's events before the run began."""
        return self._load()

    @cached_property
    def session(self) -> WorkflowSession | None:
        """The full read model (None for a brand-new session's first run)."""
        return project_session(self.events)

    @cached_property
    def history(self) -> HistorySource:
        """The runs' input, content and status as of the run's start."""
        return self._load_history()


class StepInput:
    """What a function step receives.

    ``session_state`` is one dict shared by all steps of a run: mutate it and
    the changes are recorded and persisted when the run ends.
    ``workflow_session`` is the session as it stood when the run started
    (built on first access).
    """

    def __init__(
        self,
        input: Any = None,
        previous_step_content: Any = None,
        previous_step_outputs: dict[str, StepOutput] | None = None,
        session_state: dict[str, Any] | None = None,
        workflow_session: WorkflowSession | None = None,
        *,
        views: SessionViews | None = None,
    ) -> None:
        self.input = input
        self.previous_step_content = previous_step_content
        self.previous_step_outputs = previous_step_outputs if previous_step_outputs else {}
        self.session_state = session_state if session_state is not None else {}
        self._workflow_session = workflow_session
        self._views = views

    @property
    def workflow_session(self) -> WorkflowSession | None:
        """The session read model as of the start of this run."""
        if self._workflow_session is None and self._views is not None:
            self._workflow_session = self._views.session
        return self._workflow_session

    @workflow_session.setter
    def workflow_session(self, session: WorkflowSession | None) -> None:
        self._workflow_session, self._views = session, None

    def _history_source(self) -> HistorySource | None:
        if self._workflow_session is None and self._views is not None:
            return self._views.history
        return self._workflow_session

    def get_workflow_history(self, num_runs: int | None = None) -> list[tuple[str, str]]:
        """(input, output) pairs of the session's last COMPLETED runs."""
        source = self._history_source()
        return source.get_workflow_history(num_runs=num_runs) if source else []

    def get_workflow_history_context(self, num_runs: int | None = None) -> str | None:
        """The ``<workflow_history_context>`` text of those runs, or None."""
        source = self._history_source()
        return source.get_workflow_history_context(num_runs=num_runs) if source else None

    def __repr__(self) -> str:
        return (
            f"StepInput(input={self.input!r}, previous_step_content="
            f"{self.previous_step_content!r}, session_state={self.session_state!r})"
        )

    def get_step_output(self, step_name: str) -> StepOutput | None:
        """The output of an earlier step of this run by name, searched inside step
        primitives too (the first found, depth first), or None."""
        found = self.previous_step_outputs.get(step_name)
        if found:
            return found
        for output in self.previous_step_outputs.values():
            inner = _search(output, step_name)
            if inner is not None:
                return inner
        return None

    def get_step_content(self, step_name: str) -> Any:
        """Content of an earlier step of this run, by name (None if absent), as
        Agno gives it: for a Parallel, ``{step name: content}`` of its steps; for
        another step primitive, the content of its last step, deepest first."""
        output = self.get_step_output(step_name)
        if output is None:
            return None
        if output.step_type == "Parallel" and output.steps:
            contents: dict[str, str] = {}
            for inner in output.steps:
                if not _has_content(inner):
                    continue
                for step in inner.steps or [inner]:
                    if _has_content(step):
                        contents[str(step.step_name)] = str(step.content)
            return contents or str(output.content)
        while output.steps:
            output = output.steps[-1]
        return output.content

    def get_last_step_content(self) -> Any:
        """Content of the step just before this one (None for the first step)."""
        return self.previous_step_content

    def get_all_previous_content(self) -> str:
        """The content of every earlier step of this run, each under its name
        (``=== name ===``), blank lines between: Agno's text. Steps whose content
        is None or blank are left out; "" before the first step."""
        parts = [
            f"=== {name} ===\n{output.content}"
            for name, output in self.previous_step_outputs.items()
            if output.content is not None and str(output.content).strip()
        ]
        return "\n\n".join(parts)


@dataclass
class RunContext:
    """What a function step with a ``run_context`` parameter gets (Agno's RunContext).

    ``session_state`` is the run's shared state, the same dict as
    ``step_input.session_state``: what a step writes to it is recorded and
    persisted as from any step. ``metadata`` is the workflow's metadata with
    the run's on top. Each step gets its own copy of the object, the
    ``session_state`` dict shared.
    """

    run_id: str
    session_id: str
    user_id: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    dependencies: dict[str, Any] | None = None
    knowledge_filters: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    session_state: dict[str, Any] | None = None


class OnError(StrEnum):
    """What a workflow does with a step whose attempts all raised (Agno's OnError)."""

    fail = "fail"
    """End the run as ERROR, the exception propagating."""
    skip = "skip"
    """Record the step as skipped ("Step skipped due to error: ...") and go on: the default."""
    pause = "pause"
    """Agno pauses the run for a person to decide; Kern refuses it (no paused runs)."""


@dataclass
class HumanReview:
    """A step's review settings, as Agno's; Kern uses ``on_error``.

    The fields that pause a run for a person (confirmation, user input,
    output or iteration review, ``on_error="pause"``) are refused by
    :class:`Step` with InvalidStepError: Kern records runs that go on to
    their end, it has no paused state to resume from.
    """

    requires_confirmation: bool = False
    confirmation_message: str | None = None
    requires_user_input: bool = False
    user_input_message: str | None = None
    user_input_schema: list[dict[str, Any]] | None = None
    allow_multiple_selections: bool = False
    requires_output_review: Any = False
    output_review_message: str | None = None
    requires_iteration_review: bool = False
    iteration_review_message: str | None = None
    on_reject: str = "skip"
    on_error: OnError | str = OnError.skip
    max_retries: int = 3
    timeout: int | None = None
    on_timeout: str = "cancel"

    def checked_on_error(self, where: str) -> OnError:
        """``on_error`` as an OnError; InvalidStepError for a setting Kern cannot honour."""
        pausing = [name for name in _PAUSING if getattr(self, name)]
        if pausing:
            raise InvalidStepError(
                f"{where}: HumanReview {pausing[0]}=... pauses a run for review, "
                "and Kern runs do not pause; only on_error is used"
            )
        try:
            on_error = OnError(self.on_error)
        except ValueError:
            raise InvalidStepError(
                f"{where}: on_error must be 'fail' or 'skip', got {self.on_error!r}"
            ) from None
        if on_error is OnError.pause:
            raise InvalidStepError(
                f"{where}: on_error='pause' pauses a run for a person to decide, and Kern "
                "runs do not pause; use 'fail' or 'skip'"
            )
        return on_error


_PAUSING = (
    "requires_confirmation",
    "requires_user_input",
    "requires_output_review",
    "requires_iteration_review",
)
"""The HumanReview settings that pause a run for a person."""


def _search(output: StepOutput, step_name: str) -> StepOutput | None:
    """The first step named ``step_name`` inside ``output``, depth first."""
    for inner in output.steps or []:
        if inner.step_name == step_name:
            return inner
        found = _search(inner, step_name)
        if found is not None:
            return found
    return None


def _has_content(output: StepOutput) -> bool:
    return (
        bool(output.step_name) and output.content is not None and bool(str(output.content).strip())
    )


class Step:
    """A named step around an executor (function or agent-like object).

    ``add_workflow_history`` True/False overrides the workflow's flag;
    ``num_history_runs`` overrides the workflow's window for this step.

    Failure policy, as Agno 3.1.10's: an attempt that raises is tried again
    up to ``max_retries`` more times (each failed attempt recorded as a
    StepAttemptFailed event). When they are used up, ``skip_on_failure=True``
    records the step as "Step <name> failed but skipped" and the run goes
    on; otherwise ``human_review.on_error`` decides: ``"skip"`` (the default)
    records "Step skipped due to error: <error>" and goes on, ``"fail"`` ends
    the run as ERROR. ``strict_input_validation`` is accepted and, as in
    Agno 3.1.10, has no effect.
    """

    def __init__(
        self,
        name: str | None = None,
        executor: Any = None,
        *,
        agent: Any = None,
        team: Any = None,
        description: str | None = None,
        add_workflow_history: bool | None = None,
        num_history_runs: int | None = None,
        max_retries: int = 3,
        skip_on_failure: bool = False,
        strict_input_validation: bool = False,
        human_review: HumanReview | None = None,
    ) -> None:
        where = f"Step {name!r}"
        check_flag(
            add_workflow_history, what=f"{where} add_workflow_history", error=InvalidStepError
        )
        check_count(num_history_runs, what=f"{where} num_history_runs", error=InvalidStepError)
        if max_retries is None:
            raise InvalidStepError(f"{where} max_retries must be a non-negative integer, got None")
        check_count(max_retries, what=f"{where} max_retries", error=InvalidStepError)
        for flag, value in (
            ("skip_on_failure", skip_on_failure),
            ("strict_input_validation", strict_input_validation),
        ):
            if not isinstance(value, bool):
                raise InvalidStepError(f"{where} {flag} must be True or False, got {value!r}")
        if human_review is not None and not isinstance(human_review, HumanReview):
            raise InvalidStepError(
                f"{where} human_review must be a HumanReview, got {type(human_review).__name__}"
            )
        review = human_review if human_review is not None else HumanReview()
        review.checked_on_error(where)
        given = [x for x in (executor, agent, team) if x is not None]
        if len(given) != 1:
            raise InvalidStepError(f"Step {name!r} needs exactly one of executor=, agent= or team=")
        self.executor = given[0]
        self.name = name
        self.description = description
        self.add_workflow_history = add_workflow_history
        self.num_history_runs = num_history_runs
        self.max_retries = max_retries
        self.skip_on_failure = skip_on_failure
        self.strict_input_validation = strict_input_validation
        self.human_review = review
        self._workflow: Callable[[], Any] | None = None
        """The last Workflow that ran it (weakly): where get_chat_history reads."""

    def get_chat_history(
        self, session_id: str, last_n_runs: int | None = None, user_id: str | None = None
    ) -> list[ExecutorMessage]:
        """The messages of this step's agent or team in the session (Agno's
        ``Step.get_chat_history``), read through the last Workflow that ran or
        holds this step; [] for a function step or a session not visible.
        InvalidStepError for an agent step no Workflow holds."""
        step = resolve_step(0, self)
        if not step.is_agent_like or step.executor_id is None:
            return []
        session = self._holder().get_session(session_id, user_id)
        return _messages_of(step, session, last_n_runs)

    async def aget_chat_history(
        self, session_id: str, last_n_runs: int | None = None, user_id: str | None = None
    ) -> list[ExecutorMessage]:
        """:meth:`get_chat_history`, awaited (for a workflow on an async store)."""
        step = resolve_step(0, self)
        if not step.is_agent_like or step.executor_id is None:
            return []
        session = await self._holder().aget_session(session_id, user_id)
        return _messages_of(step, session, last_n_runs)

    def _holder(self) -> Any:
        workflow = self._workflow() if self._workflow is not None else None
        if workflow is None:
            raise InvalidStepError(
                f"Step {self.name!r} is in no Workflow: its chat history is read "
                "through the workflow that runs it"
            )
        return workflow


def _messages_of(
    step: ResolvedStep, session: WorkflowSession | None, last_n_runs: int | None
) -> list[ExecutorMessage]:
    if session is None:
        return []
    if step.step_type == "team":
        return session.get_messages(team_id=step.executor_id, last_n_runs=last_n_runs)
    return session.get_messages(agent_id=step.executor_id, last_n_runs=last_n_runs)


def _passthrough(step_input: StepInput) -> Any:
    if step_input.previous_step_outputs:
        return step_input.previous_step_content
    return step_input.input


@dataclass(frozen=True)
class ResolvedStep:
    """A step in the form the runner uses: its executor and how to call it."""

    index: int
    name: str
    step_type: str  # "function", "agent", "team" or "placeholder"
    executor: Any
    executor_name: str | None
    executor_id: str | None
    add_workflow_history: bool | None
    num_history_runs: int | None
    is_async: bool = False
    """It can only be awaited: an ``async def`` function, or an agent with ``arun``
    and no ``run``."""
    has_arun: bool = False
    """An agent-like executor with ``arun``, which ``Workflow.arun`` awaits instead of ``run``."""
    max_retries: int = 3
    """How many more times an attempt that raised is tried."""
    skip_on_failure: bool = False
    """Its attempts used up, the step is recorded "failed but skipped" and the run goes on."""
    on_error: OnError = OnError.skip
    """Else what the workflow does: skip the step or end the run as ERROR."""
    takes_run_context: bool = False
    """A function with a ``run_context`` parameter: it is passed the run's RunContext."""

    @property
    def is_agent_like(self) -> bool:
        """True for agents and teams: they get a message, not a StepInput."""
        return self.step_type in ("agent", "team")

    def describe(self) -> dict[str, Any]:
        """The step as recorded in workflow_data."""
        return {"name": self.name, "type": self.step_type, "executor_id": self.executor_id}


def resolve_step(index: int, step: Any) -> ResolvedStep:
    """Classify ``step``; InvalidStepError when it cannot be run."""
    from kern.application.runner.primitives import Primitive  # they resolve their own steps

    if isinstance(step, Primitive):
        return ResolvedStep(
            index=index,
            name=step.name or f"step_{index + 1}",
            step_type=step.step_type,
            executor=step,
            executor_name=None,
            executor_id=None,
            add_workflow_history=None,
            num_history_runs=None,
            is_async=step.is_async(),
        )
    wrapper = step if isinstance(step, Step) else None
    executor = wrapper.executor if wrapper else step
    if executor is Ellipsis:
        step_type, executor = "placeholder", _passthrough
    elif _is_agent_like(executor):
        step_type = "team" if getattr(executor, "team_id", None) is not None else "agent"
    elif callable(executor):
        step_type = "function"
    else:
        raise InvalidStepError(
            f"step {index + 1} is a {type(executor).__name__}: a step must be a "
            "callable, a Step, or an object with a run(message) method"
        )
    executor_name = None if step_type == "placeholder" else _name_of(executor)
    where = f"step {index + 1}"
    has_arun = step_type in ("agent", "team") and callable(getattr(executor, "arun", None))
    if step_type in ("agent", "team"):
        is_async = not callable(getattr(executor, "run", None))
    else:
        is_async = _is_coroutine_function(executor)
    return ResolvedStep(
        index=index,
        name=(wrapper.name if wrapper and wrapper.name else None)
        or executor_name
        or f"step_{index + 1}",
        step_type=step_type,
        executor=executor,
        executor_name=executor_name,
        executor_id=_id_of(executor, step_type),
        add_workflow_history=wrapper.add_workflow_history if wrapper else None,
        num_history_runs=wrapper.num_history_runs if wrapper else None,
        is_async=is_async,
        has_arun=has_arun,
        max_retries=wrapper.max_retries if wrapper else 3,
        skip_on_failure=wrapper.skip_on_failure if wrapper else False,
        on_error=wrapper.human_review.checked_on_error(where) if wrapper else OnError.skip,
        takes_run_context=step_type == "function" and _has_parameter(executor, "run_context"),
    )


def step_key(step: Any) -> Any:
    """What the resolved form of ``step`` depends on: a Workflow resolves its steps
    again when a key changes (a list replaced, an item added or replaced, a
    Step's executor or policy set)."""
    if not isinstance(step, Step):
        return id(step)
    review = step.human_review
    return (
        id(step),
        id(step.executor),
        step.name,
        step.add_workflow_history,
        step.num_history_runs,
        step.max_retries,
        step.skip_on_failure,
        id(review),
        getattr(review, "on_error", None),
    )


def _has_parameter(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False


def _is_agent_like(obj: Any) -> bool:
    runs = callable(getattr(obj, "run", None)) or callable(getattr(obj, "arun", None))
    return runs and not inspect.isroutine(obj) and not inspect.isclass(obj)


def _is_coroutine_function(fn: Any) -> bool:
    """An ``async def`` function, a partial of one, or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the type's, not the instance's
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(call)


def _name_of(executor: Any) -> str | None:
    name = getattr(executor, "name", None) or getattr(executor, "__name__", None)
    return str(name) if name and name != "<lambda>" else None


def _id_of(executor: Any, step_type: str) -> str | None:
    if step_type == "team":
        return str(executor.team_id)
    if step_type == "agent":
        ident = getattr(executor, "agent_id", None) or getattr(executor, "id", None)
        if ident is None and getattr(executor, "name", None):
            ident = slug(str(executor.name))
        return str(ident) if ident is not None else None
    return None


def executor_run_of(step: ResolvedStep, response: Any, run_id: str) -> ExecutorRun:
    """The agent/team run recorded for a step: ids, status and messages."""
    raw = getattr(response, "messages", None) or []
    messages = [_message(m) for m in raw]
    status = getattr(response, "status", None) or RunStatus.completed
    return ExecutorRun(
        run_id=str(getattr(response, "run_id", None) or f"{run_id}:{step.index}"),
        agent_id=step.executor_id if step.step_type == "agent" else None,
        team_id=step.executor_id if step.step_type == "team" else None,
        status=RunStatus(str(status.value if hasattr(status, "value") else status)),
        messages=messages,
    )


def _message(message: Any) -> ExecutorMessage:
    if isinstance(message, ExecutorMessage):
        return message
    if isinstance(message, dict):
        # JSON form first: a model in the content is kept as its dict, and a value
        # with no JSON form is refused by type instead of failing in the store.
        return ExecutorMessage.model_validate(to_json_value(message, what="agent message"))
    if hasattr(message, "model_dump"):
        return ExecutorMessage.model_validate(message.model_dump(mode="json"))
    return ExecutorMessage(
        role=str(message.role),
        content=to_json_value(getattr(message, "content", None), what="agent message content"),
        from_history=bool(getattr(message, "from_history", False)),
    )


StepFunction = Callable[[StepInput], Any]
