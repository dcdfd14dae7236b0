"""Failure policies against Agno 3.1.10: the same failing function steps, the same runs.

``tests/fixtures/agno/failure_policies.json`` holds what agno 3.1.10 did with
each scenario (written by ``make_failure_policies.py`` beside it, running the step
functions of ``failure_cases.py`` with Agno's classes): how often each step was called,
whether the run raised, the run's status, content, step results and the
session's history context. Kern runs the scenarios with ``run``, ``arun``
and a stream, on every store, and must give the same, except where Kern
differs on purpose (:func:`as_kern_records`).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.domain.events import StepAttemptFailed
from kern.workflow import HumanReview, OnError, Step, StepOutput, Workflow
from tests.contract.workflow.test_arun import AnyDb, drive
from tests.contract.workflow.test_arun import adb as adb  # the fixture, for arun on every store
from tests.fixtures.agno import failure_cases
from tests.fixtures.agno.failure_cases import calls

ORACLE = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "agno" / "failure_policies.json").read_text()
)
SCENARIOS: dict[str, dict[str, Any]] = ORACLE["scenarios"]

KERN = SimpleNamespace(Step=Step, StepOutput=StepOutput, HumanReview=HumanReview, OnError=OnError)


def scenarios() -> dict[str, list[Any]]:
    """The generator's scenarios and step functions, with Kern's classes."""
    return failure_cases.scenarios(KERN)


def test_the_scenarios_are_the_recorded_ones() -> None:
    """The fixture was written by agno 3.1.10 for exactly these scenarios."""
    assert ORACLE["agno"] == "3.1.10"
    assert set(SCENARIOS) == set(scenarios())
    assert all(set(modes) == {"run", "arun", "stream"} for modes in SCENARIOS.values())


def as_kern_records(expected: dict[str, Any], first_step: str) -> dict[str, Any]:
    """What Agno recorded, with Kern's deliberate differences applied:

    - a ``skip_on_failure`` step keeps its name in its result (Agno's has
      ``step_name`` None there, and its StepOutput nothing to say which step it was);
    - an ERROR run's content is None, its error in ``run.error`` (Agno writes
      "Workflow execution failed: <error>" under run and arun, the bare error
      when streaming).
    """
    kern = json.loads(json.dumps(expected))
    for result in kern["step_results"]:
        if result["step_name"] is None:
            result["step_name"] = first_step
    if kern["status"] == "ERROR":
        kern["content"] = None
    return kern


def observe(session: Any, raised: BaseException | None) -> dict[str, Any]:
    """The run as the fixture records Agno's (``raised`` with its classes, to
    compare with the name Agno raised)."""
    run = session.runs[-1]
    return {
        "calls": dict(sorted(calls.items())),
        "raised": None
        if raised is None
        else {"type": type(raised).__name__, "message": str(raised), "mro": type(raised).__mro__},
        "status": run.status.value,
        "content": run.content,
        "step_results": [
            {"step_name": s.step_name, "content": s.content, "success": s.success, "error": s.error}
            for s in run.step_results
        ],
        "history_context": session.get_workflow_history_context(),
    }


def check(name: str, mode: str, workflow: Workflow, observed: dict[str, Any], run: Any) -> None:
    expected = as_kern_records(SCENARIOS[name][mode], workflow._resolved[0].name)
    raised, expected_raised = observed.pop("raised"), expected.pop("raised")
    if expected_raised is None:
        assert raised is None
    else:
        # Kern raises the step's own exception, or StepFailedError (a RuntimeError)
        # where Agno raises RuntimeError for a reported failure.
        assert raised is not None and raised["message"] == expected_raised["message"]
        assert expected_raised["type"] in {c.__name__ for c in raised["mro"]}
        assert run.error == expected_raised["message"]
    assert observed == expected


def attempts_recorded(events: list[Any]) -> list[tuple[str | None, int, str]]:
    return [(e.step_name, e.attempt, e.error) for e in events if isinstance(e, StepAttemptFailed)]


def failed_calls(name: str, mode: str) -> int:
    """How many calls of the scenario's first step raised (each is a StepAttemptFailed)."""
    expected = SCENARIOS[name][mode]
    step = "flaky" if name.startswith("flaky") else "always" if "always" in name else "reports"
    made = expected["calls"].get(step, 0)
    if step == "reports":
        return 0
    return made - 1 if step == "flaky" and expected["step_results"][0]["success"] else made


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("mode", ["run", "stream"])
def test_a_failing_step_is_handled_as_agno_handles_it(db: KernDb, name: str, mode: str) -> None:
    calls.clear()
    workflow = Workflow(name="policies", db=db, steps=scenarios()[name])
    raised: BaseException | None = None
    try:
        if mode == "run":
            workflow.run(input="topic", session_id="s1")
        else:
            for _ in workflow.run(input="topic", session_id="s1", stream=True):
                pass
    except Exception as exc:
        raised = exc
    session = workflow.get_session("s1")
    assert session is not None and session.runs is not None
    observed = observe(session, raised)
    check(name, mode, workflow, observed, session.runs[-1])
    attempts = attempts_recorded(list(db.get_events("s1")))
    assert len(attempts) == failed_calls(name, mode)
    assert [number for _, number, _ in attempts] == list(range(1, len(attempts) + 1))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_failing_step_under_arun_is_handled_as_agno_handles_it(adb: AnyDb, name: str) -> None:
    calls.clear()
    workflow = Workflow(name="policies", db=adb, steps=scenarios()[name])

    async def body() -> tuple[Any, BaseException | None, list[Any]]:
        raised: BaseException | None = None
        try:
            await workflow.arun(input="topic", session_id="s1")
        except Exception as exc:
            raised = exc
        session = await workflow.aget_session("s1")
        events = await adb.get_events("s1") if isinstance(adb, AsyncKernDb) else []
        return session, raised, list(events)

    session, raised, events = drive(adb, body)
    observed = observe(session, raised)
    check(name, "arun", workflow, observed, session.runs[-1])
    if isinstance(adb, KernDb):
        events = list(adb.get_events("s1"))
    assert len(attempts_recorded(events)) == failed_calls(name, "arun")
