"""Workflows that ``kern replay --workflow tests.contract.cli.flows:...`` loads."""

from __future__ import annotations

from kern.adapters.cli.demo_workflow import Summarizer, demo_workflow, tally
from kern.workflow import Step, StepInput, Workflow

pipeline = demo_workflow()
"""The demo workflow as recorded: a replay finds every step equal."""


def research(step_input: StepInput) -> str:
    """A rewritten research step: it finds something else."""
    return f"Findings on {step_input.input}: a new source"


def changed_pipeline() -> Workflow:
    """The demo workflow with its research step rewritten."""
    return Workflow(
        name="Research Pipeline",
        steps=[
            research,
            Step(name="summarize", agent=Summarizer(), add_workflow_history=True),
            tally,
        ],
        num_history_runs=3,
    )


def broken_factory() -> Workflow:
    """A factory that fails before building anything."""
    raise RuntimeError("no configuration found")


not_a_workflow = 42
