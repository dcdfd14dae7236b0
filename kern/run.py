"""Runs as recorded: ``WorkflowRunOutput``, ``RunStatus`` and their parts."""

from __future__ import annotations

from kern.domain.values import RunStatus
from kern.projections.runs import Message, StepOutput, WorkflowMetrics, WorkflowRunOutput

__all__ = ["Message", "RunStatus", "StepOutput", "WorkflowMetrics", "WorkflowRunOutput"]
