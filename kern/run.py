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
from kern.projections.runs import Message, StepOutput, WorkflowMetrics, WorkflowRunOutput

__all__ = [
    "Message",
    "RunContext",
    "RunEvent",
    "RunStatus",
    "StepCompletedEvent",
    "StepOutput",
    "StepStartedEvent",
    "WorkflowCancelledEvent",
    "WorkflowCompletedEvent",
    "WorkflowErrorEvent",
    "WorkflowMetrics",
    "WorkflowRunOutput",
    "WorkflowStartedEvent",
]
