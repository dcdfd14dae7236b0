"""A function step taking ``run_context`` (Agno's RunContext), and Agno's
"state_in_function" cookbook without its model calls, on every store."""

from __future__ import annotations

from typing import Any

import pytest

from kern.db import KernDb
from kern.run import RunContext as RunContextFromRun
from kern.workflow import RunContext, Step, StepInput, StepOutput, Workflow
from tests.contract.workflow.test_arun import AnyDb, drive
from tests.contract.workflow.test_arun import adb as adb  # the fixture, for arun on every store


def test_run_context_is_exported_where_agno_has_it() -> None:
    """``agno.run.RunContext`` is ``kern.run.RunContext``; ``kern.workflow`` has it too."""
    assert RunContextFromRun is RunContext


def test_a_step_taking_run_context_gets_the_run_and_its_state(db: KernDb) -> None:
    seen: list[RunContext] = []

    def plan(step_input: StepInput, run_context: RunContext) -> str:
        seen.append(run_context)
        state = run_context.session_state
        assert state is not None and state is step_input.session_state
        state["plans"] = state.get("plans", 0) + 1
        return f"plan {state['plans']}"

    workflow = Workflow(name="Planner", db=db, steps=[plan, plan], metadata={"team": "a"})
    run = workflow.run(
        "AI", session_id="s1", user_id="alice", run_id="r1", metadata={"ticket": "T-1"}
    )
    assert run.content == "plan 2"
    assert workflow.get_session_state("s1", user_id="alice") == {"plans": 2}
    first, second = seen
    assert first is not second  # each step its own object, the state dict shared
    assert (first.run_id, first.session_id, first.user_id) == ("r1", "s1", "alice")
    assert (first.workflow_id, first.workflow_name) == ("planner", "Planner")
    assert first.metadata == {"team": "a", "ticket": "T-1"}


def test_run_context_may_be_optional_or_keyword_and_other_steps_do_not_get_it(
    db: KernDb,
) -> None:
    def optional(step_input: StepInput, run_context: RunContext | None = None) -> str:
        assert run_context is not None
        return run_context.session_id

    def keyword(step_input: StepInput, *, run_context: RunContext) -> str:
        return run_context.run_id

    def plain(step_input: StepInput, *args: Any, **kwargs: Any) -> str:
        return f"plain got {sorted(kwargs)}"

    workflow = Workflow(name="W", db=db, steps=[optional, Step(executor=keyword), plain])
    run = workflow.run("x", session_id="s1", run_id="r1")
    assert [s.content for s in run.step_results] == ["s1", "r1", "plain got []"]


def test_an_async_step_taking_run_context_runs_under_arun(adb: AnyDb) -> None:
    async def remember(step_input: StepInput, run_context: RunContext) -> str:
        assert run_context.session_state is not None
        run_context.session_state["seen"] = step_input.input
        return "remembered"

    workflow = Workflow(name="W", db=adb, steps=[remember])

    async def body() -> Any:
        run = await workflow.arun("it", session_id="s1")
        return run, await workflow.aget_session_state("s1")

    run, state = drive(adb, body)
    assert run.content == "remembered" and state == {"seen": "it"}


# -- the cookbook: 04_workflows/06_advanced_concepts/session_state/state_in_function -----------


def research(step_input: StepInput) -> str:
    """Stands in for the cookbook's research team."""
    return f"research notes on {step_input.input}"


def custom_content_planning_function(step_input: StepInput, run_context: RunContext) -> StepOutput:
    session_state = run_context.session_state
    assert session_state is not None
    message = step_input.input
    previous_step_content = step_input.previous_step_content
    if "content_plans" not in session_state:
        session_state["content_plans"] = []
    if "plan_counter" not in session_state:
        session_state["plan_counter"] = 0
    session_state["plan_counter"] += 1
    current_plan_id = session_state["plan_counter"]
    plan_data = {
        "id": current_plan_id,
        "topic": message,
        "content": f"plan for {message}",
        "timestamp": f"Plan #{current_plan_id}",
        "has_research": bool(previous_step_content),
    }
    session_state["content_plans"].append(plan_data)
    return StepOutput(content=f"## Strategic Content Plan #{current_plan_id}: {message}")


def content_summary_function(step_input: StepInput, run_context: RunContext) -> StepOutput:
    session_state = run_context.session_state
    assert session_state is not None
    if "content_plans" not in session_state or not session_state["content_plans"]:
        return StepOutput(content="No content plans found in session state.", success=False)
    plans = session_state["content_plans"]
    summary = f"Total Plans Created: {len(plans)}"
    session_state["session_summarized"] = True
    session_state["total_plans_summarized"] = len(plans)
    return StepOutput(content=summary)


@pytest.mark.parametrize("stream", [False, True])
def test_the_state_in_function_cookbook_runs(db: KernDb, stream: bool) -> None:
    workflow = Workflow(
        name="Content Creation Workflow",
        description="Automated content creation with custom execution options and session state",
        db=db,
        steps=[
            Step(name="Research Step", executor=research),
            Step(name="Content Planning Step", executor=custom_content_planning_function),
            Step(name="Content Summary Step", executor=content_summary_function),
        ],
        session_state={"content_plans": [], "plan_counter": 0},
        session_id="cookbook",
    )
    for topic in ("AI trends in 2024", "Machine Learning automation tools"):
        if stream:
            list(workflow.run(input=topic, stream=True))
        else:
            workflow.run(input=topic)
    state = workflow.get_session_state()
    assert state["plan_counter"] == 2
    assert [p["topic"] for p in state["content_plans"]] == [
        "AI trends in 2024",
        "Machine Learning automation tools",
    ]
    assert all(p["has_research"] for p in state["content_plans"])
    assert (state["session_summarized"], state["total_plans_summarized"]) == (True, 2)
    last = workflow.get_last_run_output()
    assert last is not None and last.content == "Total Plans Created: 2"
