"""``workflow.steps`` changed after the Workflow was made: the next run runs the new steps."""

from __future__ import annotations

import gc

import pytest

from kern.db.in_memory import InMemoryDb
from kern.errors import InvalidStepError
from kern.workflow import HumanReview, Step, StepInput, Workflow
from tests.conftest import echo, shout


def first(step_input: StepInput) -> str:
    return "first"


def second(step_input: StepInput) -> str:
    return "second"


def names(workflow: Workflow, session_id: str) -> list[str | None]:
    return [s.step_name for s in workflow.run("x", session_id=session_id).step_results]


def test_a_new_list_of_steps_runs_next() -> None:
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[echo])
    assert names(workflow, "a") == ["echo"]
    workflow.steps = [first, second]
    assert names(workflow, "b") == ["first", "second"]


def test_an_appended_or_removed_step_runs_next() -> None:
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[echo])
    workflow.steps.append(shout)
    assert names(workflow, "a") == ["echo", "shout"]
    workflow.steps.pop(0)
    assert names(workflow, "b") == ["shout"]


def test_a_replaced_step_runs_next_even_when_its_id_is_reused() -> None:
    """A Step replaced by another made right after it may get the same id(): the
    workflow keeps the old one alive, so the new one is never mistaken for it."""
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[Step(name="one", executor=first)])
    assert names(workflow, "a") == ["one"]
    for n in range(20):
        workflow.steps[0] = Step(name=f"step {n}", executor=second)
        gc.collect()
        result = workflow.run("x", session_id=f"s{n}")
        assert [(s.step_name, s.content) for s in result.step_results] == [(f"step {n}", "second")]


def test_a_step_changed_in_place_runs_next() -> None:
    step = Step(name="one", executor=first)
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[step])
    assert workflow.run("x", session_id="a").content == "first"
    step.executor = second
    assert workflow.run("x", session_id="b").content == "second"
    step.name = "renamed"
    assert names(workflow, "c") == ["renamed"]


def test_a_changed_policy_takes_effect_next() -> None:
    def broken(step_input: StepInput) -> str:
        raise ValueError("down")

    step = Step(name="broken", executor=broken, max_retries=0)
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[step])
    assert workflow.run("x", session_id="a").status.value == "COMPLETED"
    step.human_review = HumanReview(on_error="fail")
    with pytest.raises(ValueError, match="down"):
        workflow.run("x", session_id="b")


def test_the_fingerprint_follows_the_steps() -> None:
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[first])
    before = workflow.fingerprint
    workflow.steps = [second]
    assert workflow.fingerprint != before


def test_a_step_it_cannot_run_is_refused_at_the_next_run() -> None:
    db = InMemoryDb()
    workflow = Workflow(name="W", db=db, steps=[echo])
    workflow.steps.append(42)
    with pytest.raises(InvalidStepError, match="step 2 is a int"):
        workflow.run("x", session_id="a")
    assert db.get_session("a") is None


def test_unchanged_steps_are_not_resolved_again() -> None:
    workflow = Workflow(name="W", db=InMemoryDb(), steps=[echo, shout])
    resolved = workflow._resolved
    workflow.run("x", session_id="a")
    assert workflow._resolved is resolved
