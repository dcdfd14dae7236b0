"""Workflows and their steps: ``Workflow``, ``Step``, ``StepInput``, ``StepOutput``, and the
step primitives ``Steps``, ``Parallel``, ``Condition``, ``Loop`` and ``Router``."""

from __future__ import annotations

from kern.application.runner import workflow as runner
from kern.application.runner.primitives import Condition, Loop, Parallel, Router, Steps
from kern.application.runner.steps import Step, StepInput
from kern.application.sessions import KernDb
from kern.db.in_memory import InMemoryDb
from kern.domain.errors import InvalidStepError
from kern.projections.runs import StepOutput


class Workflow(runner.Workflow):
    __doc__ = runner.Workflow.__doc__

    def new_scratch_db(self) -> KernDb:
        """A new :class:`~kern.db.in_memory.InMemoryDb`: the db of a Workflow built
        without one, and where :meth:`replay` runs."""
        return InMemoryDb()


__all__ = [
    "Condition",
    "InvalidStepError",
    "Loop",
    "Parallel",
    "Router",
    "Step",
    "StepInput",
    "StepOutput",
    "Steps",
    "Workflow",
]
