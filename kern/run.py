"""Runs as recorded: ``WorkflowRunOutput``, ``RunStatus`` and their parts, the
run events ``run(stream=True)`` and ``arun(stream=True)`` yield (names as Agno's),
the ``RunContext`` a function step may take (``agno.run.RunContext``), and
``InterruptedRun`` (what ``get_interrupted_runs`` finds)."""

from __future__ import annotations

from kern.application.runner.steps import RunContext
from kern.domain.values import RunStatus
from kern.projections.open_runs import InterruptedRun
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
    "InterruptedRun",
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
