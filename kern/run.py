"""Runs as recorded: ``WorkflowRunOutput``, ``RunStatus`` and their parts, and the
run events ``run(stream=True)`` and ``arun(stream=True)`` yield (names as Agno's),
and the ``RunContext`` a function step may take (``agno.run.RunContext``)."""

from __future__ import annotations

from kern.application.runner.steps import RunContext
from kern.domain.values import RunStatus
from kern.projections.run_events import (
    RunEvent,
    StepCompletedEvent,
    StepStartedEvent,
    WorkflowCancelledEvent,
    WorkflowCompletedEvent,
    WorkflowErrorEvent,
    WorkflowStartedEvent,
)
from kern.projections.runs import (
    Message,
    RunMetrics,
    StepMetrics,
    StepOutput,
    WorkflowMetrics,
    WorkflowRunOutput,
)

__all__ = [
    "Message",
    "RunContext",
    "RunEvent",
    "RunMetrics",
    "RunStatus",
    "StepCompletedEvent",
    "StepMetrics",
    "StepOutput",
    "StepStartedEvent",
    "WorkflowCancelledEvent",
    "WorkflowCompletedEvent",
    "WorkflowErrorEvent",
    "WorkflowMetrics",
    "WorkflowRunOutput",
    "WorkflowStartedEvent",
]
