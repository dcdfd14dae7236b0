"""Failure policies against Agno 3.1.10: the same failing function steps, the same runs.

``tests/fixtures/agno/failure_policies.json`` holds what agno 3.1.10 did with
each scenario (written by ``make_failure_policies.py`` beside it, with the
same step functions under Agno's names): how often each step was called,
whether the run raised, the run's status, content, step results and the
session's history context. Kern runs the scenarios with ``run``, ``arun``
and a stream, on every store, and must give the same, except where Kern
differs on purpose (:func:`as_kern_records`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.domain.events import StepAttemptFailed
from kern.workflow import HumanReview, OnError, Step, StepInput, StepOutput, Workflow
from tests.contract.workflow.test_arun import AnyDb, drive
from tests.contract.workflow.test_arun import adb as adb  # the fixture, for arun on every store

ORACLE = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "agno" / "failure_policies.json").read_text()
)
SCENARIOS: dict[str, dict[str, Any]] = ORACLE["scenarios"]

calls: Counter[str] = Counter()


def flaky(step_input: StepInput) -> str:
    """Fails on its first two calls of a run, then succeeds."""
    calls["flaky"] += 1
    if calls["flaky"] <= 2:
        raise ValueError(f"flaky failure {calls['flaky']}")
    return f"flaky ok after {calls['flaky']} calls on {step_input.input}"


def always(step_input: StepInput) -> str:
    """Always fails."""
    calls["always"] += 1
    raise RuntimeError(f"always fails on {step_input.input}")


def reports(step_input: StepInput) -> StepOutput:
    """Returns a failed StepOutput without raising."""
    calls["reports"] += 1
    return StepOutput(content="partial", success=False, error="reported problem")


def after(step_input: StepInput) -> str:
    """Shows what the step before it handed on."""
    calls["after"] += 1
    return f"after got {step_input.previous_step_content!r}"


def scenarios() -> dict[str, list[Any]]:
    """The generator's scenarios, with Kern's names."""
    fail = HumanReview(on_error=OnError.fail)
    return {
        "flaky_default": [Step(name="flaky", executor=flaky), after],
        "always_default": [Step(name="always", executor=always), after],
        "always_plain_function": [always, after],
        "always_skip_on_failure": [
            Step(name="always", executor=always, skip_on_failure=True),
            after,
        ],
        "always_max_retries_0": [Step(name="always", executor=always, max_retries=0), after],
        "flaky_max_retries_1": [Step(name="flaky", executor=flaky, max_retries=1), after],
        "always_on_error_fail": [
            Step(name="always", executor=always, max_retries=1, human_review=fail),
            after,
        ],
        "always_on_error_fail_skip_on_failure": [
            Step(name="always", executor=always, skip_on_failure=True, human_review=fail),
            after,
        ],
        "reports_default": [Step(name="reports", executor=reports), after],
        "reports_on_error_fail": [Step(name="reports", executor=reports, human_review=fail), after],
    }


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
