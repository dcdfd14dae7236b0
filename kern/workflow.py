"""Workflows and their steps: ``Workflow``, ``Step``, ``StepInput``, ``StepOutput``."""

from __future__ import annotations

from kern.adapters.steps import InvalidStepError, Step, StepInput
from kern.adapters.workflow import Workflow
from kern.projections.runs import StepOutput

__all__ = ["InvalidStepError", "Step", "StepInput", "StepOutput", "Workflow"]
