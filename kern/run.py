"""Runs as recorded: ``WorkflowRunOutput``, ``RunStatus`` and their parts, and the
run events ``run(stream=True)`` and ``arun(stream=True)`` yield (names as Agno's)."""

from __future__ import annotations

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
