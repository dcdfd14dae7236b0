"""Run events: what ``run(stream=True)`` and ``arun(stream=True)`` yield.

Each is named and shaped as Agno's (``WorkflowStartedEvent``, ``StepStartedEvent``,
``StepCompletedEvent``, ``WorkflowCompletedEvent``, ``WorkflowErrorEvent``,
``WorkflowCancelledEvent``, with the ``event`` strings Agno sends), plus
``version``: the version of the Kern event it reflects (RunStarted,
StepCompleted, RunCompleted). A StepStartedEvent reflects no stored event; it
carries the version of the run's event it follows. A client that saw version
``v`` resumes with the events whose version is greater, and a StepStarted of
version ``v`` (:func:`run_events`): it may not have seen that one, and may
see it twice, never not at all.

Live, the runner yields each event once the Kern event it reflects is
stored, with the step's content as the step returned it; replayed from the
log, contents are the JSON values Kern recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python

from kern.domain.events import (
    RunCompleted,
    RunStarted,
    SessionEvent,
    StepAttemptFailed,
    StepCompleted,
)
from kern.domain.values import RunStatus


@dataclass
class RunEvent:
    """Fields every run event has (Agno's BaseWorkflowRunOutputEvent, plus ``version``)."""

    event: str = ""
    version: int = 0
    """The version of the Kern event this one reflects (see the module doc)."""
    created_at: int = 0
    workflow_id: str | None = None
    workflow_name: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (None fields left out, as Agno's ``to_dict``)."""
        data = {k: v for k, v in asdict(self).items() if v is not None}
        ready: dict[str, Any] = to_jsonable_python(data, fallback=repr)
        return ready


@dataclass
class WorkflowStartedEvent(RunEvent):
    event: str = "WorkflowStarted"


@dataclass
class StepStartedEvent(RunEvent):
    event: str = "StepStarted"
    step_name: str | None = None
    step_index: int | None = None
    path: str | None = None
    """Where a step inside a step primitive sits ("2.1.3"); None for a top-level step."""


@dataclass
class StepCompletedEvent(RunEvent):
    event: str = "StepCompleted"
    step_name: str | None = None
    step_index: int | None = None
    content: Any = None
    success: bool = True
    error: str | None = None
    path: str | None = None
    """As on StepStartedEvent."""


@dataclass
class PrimitiveEvent(RunEvent):
    """A step primitive (Steps, Parallel, Condition, Loop, Router) began or ended.

    ``step_index`` is the top-level step it belongs to, ``path`` where it sits
    ("2" for the workflow's second step, "2.1" for the first step inside it).
    """

    step_name: str | None = None
    step_index: int | None = None
    path: str | None = None


@dataclass
class PrimitiveCompletedEvent(PrimitiveEvent):
    """A primitive ended: its own content ("Loop x completed 2 iterations ...")."""

    content: Any = None
    success: bool = True
    error: str | None = None


@dataclass
class LoopIterationEvent(PrimitiveEvent):
    """A Loop's iteration began or ended (1 for the first); streamed live only,
    as no event records it."""

    iteration: int | None = None


@dataclass
class StepsExecutionStartedEvent(PrimitiveEvent):
    event: str = "StepsExecutionStarted"


@dataclass
class StepsExecutionCompletedEvent(PrimitiveCompletedEvent):
    event: str = "StepsExecutionCompleted"


@dataclass
class ParallelExecutionStartedEvent(PrimitiveEvent):
    event: str = "ParallelExecutionStarted"


@dataclass
class ParallelExecutionCompletedEvent(PrimitiveCompletedEvent):
    event: str = "ParallelExecutionCompleted"


@dataclass
class ConditionExecutionStartedEvent(PrimitiveEvent):
    event: str = "ConditionExecutionStarted"


@dataclass
class ConditionExecutionCompletedEvent(PrimitiveCompletedEvent):
    event: str = "ConditionExecutionCompleted"


@dataclass
class LoopExecutionStartedEvent(PrimitiveEvent):
    event: str = "LoopExecutionStarted"


@dataclass
class LoopIterationStartedEvent(LoopIterationEvent):
    event: str = "LoopIterationStarted"


@dataclass
class LoopIterationCompletedEvent(LoopIterationEvent):
    event: str = "LoopIterationCompleted"


@dataclass
class LoopExecutionCompletedEvent(PrimitiveCompletedEvent):
    event: str = "LoopExecutionCompleted"


@dataclass
class RouterExecutionStartedEvent(PrimitiveEvent):
    event: str = "RouterExecutionStarted"


@dataclass
class RouterExecutionCompletedEvent(PrimitiveCompletedEvent):
    event: str = "RouterExecutionCompleted"


_PRIMITIVE_EVENTS: dict[str, type[PrimitiveEvent]] = {
    cls.event: cls
    for cls in (
        StepsExecutionStartedEvent,
        StepsExecutionCompletedEvent,
        ParallelExecutionStartedEvent,
        ParallelExecutionCompletedEvent,
        ConditionExecutionStartedEvent,
        ConditionExecutionCompletedEvent,
        LoopExecutionStartedEvent,
        LoopIterationStartedEvent,
        LoopIterationCompletedEvent,
        LoopExecutionCompletedEvent,
        RouterExecutionStartedEvent,
        RouterExecutionCompletedEvent,
    )
}
"""Agno's event name -> the class Kern streams for it."""


@dataclass
class WorkflowCompletedEvent(RunEvent):
    event: str = "WorkflowCompleted"
    content: Any = None
    metrics: dict[str, Any] | None = None


@dataclass
class WorkflowErrorEvent(RunEvent):
    event: str = "WorkflowError"
    error: str | None = None
    error_type: str | None = None


@dataclass
class WorkflowCancelledEvent(RunEvent):
    event: str = "WorkflowCancelled"
    reason: str | None = None
    steps: list[str] = field(default_factory=list)
    """Names of the steps the run completed before it stopped."""


def _base(
    event: SessionEvent, workflow_id: str | None, workflow_name: str | None
) -> dict[str, Any]:
    return {
        "version": event.version,
        "created_at": int(event.timestamp.timestamp()),
        "workflow_id": workflow_id,
        "workflow_name": workflow_name,
        "session_id": event.session_id,
        "run_id": getattr(event, "run_id", None),
    }


def started(event: RunStarted) -> WorkflowStartedEvent:
    """The event for a stored RunStarted."""
    return WorkflowStartedEvent(**_base(event, event.workflow_id, event.workflow_name))


def step_started(
    follows: SessionEvent,
    run: RunStarted,
    step_name: str,
    step_index: int,
    path: str | None = None,
) -> StepStartedEvent:
    """A step beginning, after ``follows`` (the run's last stored event)."""
    fields = _base(follows, run.workflow_id, run.workflow_name)
    return StepStartedEvent(**fields, step_name=step_name, step_index=step_index, path=path)


def primitive_event(
    event: str,
    follows: SessionEvent,
    run: RunStarted,
    step_name: str | None,
    path: str,
    **fields: Any,
) -> PrimitiveEvent:
    """A primitive beginning (or a Loop's iteration), after ``follows``."""
    return _PRIMITIVE_EVENTS[event](
        **_base(follows, run.workflow_id, run.workflow_name),
        step_name=step_name,
        step_index=int(path.split(".")[0]) - 1,
        path=path,
        **fields,
    )


def step_completed(event: StepCompleted, run: RunStarted, content: Any) -> RunEvent:
    """The event for a stored StepCompleted (``content`` as the caller has it): a
    primitive's is its ``<Kind>ExecutionCompleted``."""
    fields = _base(event, run.workflow_id, run.workflow_name)
    kind = _PRIMITIVE_EVENTS.get(f"{event.step_type}ExecutionCompleted")
    if kind is not None:
        assert issubclass(kind, PrimitiveCompletedEvent)
        return kind(
            **fields,
            step_name=event.step_name,
            step_index=event.step_index,
            path=event.step_path,
            content=content,
            success=event.success,
            error=event.error,
        )
    return StepCompletedEvent(
        **fields,
        step_name=event.step_name,
        step_index=event.step_index,
        content=content,
        success=event.success,
        error=event.error,
        path=event.path or None,
    )


def finished(event: RunCompleted, run: RunStarted, content: Any, steps: list[str]) -> RunEvent:
    """The event for a stored RunCompleted, by its status."""
    fields = _base(event, run.workflow_id, run.workflow_name)
    if event.status == RunStatus.completed:
        metrics = {"duration": event.metrics.duration} if event.metrics else None
        return WorkflowCompletedEvent(**fields, content=content, metrics=metrics)
    if event.status == RunStatus.cancelled:
        return WorkflowCancelledEvent(**fields, reason=event.error, steps=steps)
    return WorkflowErrorEvent(**fields, error=event.error, error_type=event.error_type)


def run_events(events: Sequence[SessionEvent], run_id: str, after: int = 0) -> list[RunEvent]:
    """The run events of ``run_id`` as replayed from the session's log, those
    whose version is greater than ``after`` (resuming a stream)."""
    replayed: list[RunEvent] = []
    run: RunStarted | None = None
    last: SessionEvent | None = None
    steps: list[str] = []
    # A failed attempt has no run event (Agno streams none): a step's StepStarted
    # follows the event before its first attempt, as live.
    mine = [
        e
        for e in events
        if getattr(e, "run_id", None) == run_id and not isinstance(e, StepAttemptFailed)
    ]
    nodes = {e.step_path: e for e in mine if isinstance(e, StepCompleted)}
    opened: set[str] = set()
    for event in mine:
        if isinstance(event, RunStarted):
            run = event
            replayed.append(started(event))
        elif run is not None and last is not None and isinstance(event, StepCompleted):
            path = event.step_path
            replayed.extend(_opened(path, nodes, opened, last, run))
            name = event.step_name or f"step_{event.step_index + 1}"
            if event.step_type not in _PRIMITIVE_KINDS:
                replayed.append(step_started(last, run, name, event.step_index, event.path or None))
            replayed.append(step_completed(event, run, event.content.value))
            if event.is_top_level:
                steps.append(name)
        elif run is not None and isinstance(event, RunCompleted):
            replayed.append(finished(event, run, event.content.value, steps))
        last = event
    # A StepStarted (or a primitive's start) follows the stored event of its version: a
    # client that saw that event may not have seen it, so it is given again (at least
    # once, never lost).
    return [e for e in replayed if e.version > after or (_starts(e) and e.version == after)]


def _starts(event: RunEvent) -> bool:
    """A step's or a primitive's start: it reflects no stored event of its own."""
    return isinstance(event, StepStartedEvent | PrimitiveEvent) and not isinstance(
        event, PrimitiveCompletedEvent
    )


_PRIMITIVE_KINDS = frozenset(("Steps", "Parallel", "Condition", "Loop", "Router"))


def _opened(
    path: str,
    nodes: dict[str, StepCompleted],
    opened: set[str],
    last: SessionEvent,
    run: RunStarted,
) -> list[RunEvent]:
    """The start events of the primitives ``path`` lies in (itself included) not
    started yet: the primitives recorded by then, outermost first."""
    parts = path.split(".")
    found: list[RunEvent] = []
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        node = nodes.get(prefix)
        if prefix in opened or node is None or node.step_type not in _PRIMITIVE_KINDS:
            continue
        opened.add(prefix)
        event = f"{node.step_type}ExecutionStarted"
        found.append(primitive_event(event, last, run, node.step_name, prefix))
    return found
