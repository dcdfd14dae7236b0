"""Workflows and their steps: ``Workflow``, ``Step``, ``StepInput``, ``StepOutput``,
the step primitives ``Steps``, ``Parallel``, ``Condition``, ``Loop`` and ``Router``,
the failure policy's ``HumanReview`` and ``OnError``, and the ``RunContext`` a
function step may take."""

from __future__ import annotations

from kern.application.runner import workflow as runner
from kern.application.runner.primitives import Condition, Loop, Parallel, Router, Steps
from kern.application.runner.steps import HumanReview, OnError, RunContext, Step, StepInput
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
    "HumanReview",
    "InvalidStepError",
    "Loop",
    "OnError",
    "Parallel",
    "Router",
    "RunContext",
    "Step",
    "StepInput",
    "StepOutput",
    "Steps",
    "Workflow",
]
