"""Failure policies in the runner: the options a Step takes, what each attempt
records, and how the attempts read back in the log's other views."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from kern.adapters.cli.sessions import event_summary
from kern.db.in_memory import InMemoryDb
from kern.domain.events import StepAttemptFailed, StepCompleted
from kern.domain.session_log import log_problem
from kern.errors import InvalidStepError, StepFailedError
from kern.projections.otel import session_spans
from kern.projections.run_events import run_events
from kern.run import RunStatus
from kern.workflow import HumanReview, OnError, Step, StepInput, StepOutput, Workflow
from tests.conftest import echo


def failing_times(times: int, *, error: type[Exception] = ValueError) -> Callable[..., str]:
    """A step that raises on its first ``times`` calls, then answers."""
    calls: list[int] = []

    def flaky(step_input: StepInput) -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error(f"failure {len(calls)}")
        return f"ok after {len(calls)}"

    return flaky


def first_run(db: InMemoryDb, session_id: str = "s") -> Any:
    session = db.get_session(session_id)
    assert session is not None and session.runs
    return session.runs[0]


def attempts(db: InMemoryDb, session_id: str = "s") -> list[StepAttemptFailed]:
    return [e for e in db.get_events(session_id) if isinstance(e, StepAttemptFailed)]


# -- the options --------------------------------------------------------------------------


def test_a_step_has_agnos_defaults() -> None:
    step = Step(executor=echo)
    assert (step.max_retries, step.skip_on_failure, step.strict_input_validation) == (
        3,
        False,
        False,
    )
    assert step.human_review.on_error == OnError.skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "max_retries must be a non-negative integer"),
        ({"max_retries": 1.5}, "max_retries must be a non-negative integer"),
        ({"max_retries": None}, "max_retries must be a non-negative integer"),
        ({"skip_on_failure": "yes"}, "skip_on_failure must be True or False"),
        ({"strict_input_validation": 1}, "strict_input_validation must be True or False"),
        ({"human_review": {"on_error": "fail"}}, "human_review must be a HumanReview"),
        ({"human_review": HumanReview(on_error="later")}, "on_error must be 'fail' or 'skip'"),
        ({"human_review": HumanReview(on_error=OnError.pause)}, "on_error='pause'"),
        ({"human_review": HumanReview(requires_confirmation=True)}, "requires_confirmation"),
        ({"human_review": HumanReview(requires_output_review=True)}, "requires_output_review"),
    ],
)
def test_refuses_a_policy_it_cannot_honour(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidStepError, match=message):
        Step(name="fetch", executor=echo, **options)


def test_on_error_is_accepted_as_a_string_or_an_enum() -> None:
    for value in ("fail", OnError.fail):
        db = InMemoryDb()
        step = Step(
            executor=failing_times(9), max_retries=0, human_review=HumanReview(on_error=value)
        )
        with pytest.raises(ValueError, match="failure 1"):
            Workflow(name="W", db=db, steps=[step]).run("x", session_id="s")


# -- what each attempt records ------------------------------------------------------------


def test_each_failed_attempt_is_recorded_before_the_step() -> None:
    db = InMemoryDb()
    workflow = Workflow(name="W", db=db, steps=[Step(name="fetch", executor=failing_times(2))])
    assert workflow.run("x", session_id="s").content == "ok after 3"
    events = db.get_events("s")
    kinds = [type(e).__name__ for e in events]
    assert kinds[1:] == [
        "RunStarted",
        "StepAttemptFailed",
        "StepAttemptFailed",
        "StepCompleted",
        "RunCompleted",
    ]
    first, second = attempts(db)
    assert [(a.step_name, a.step_index, a.attempt, a.max_retries) for a in (first, second)] == [
        ("fetch", 0, 1, 3),
        ("fetch", 0, 2, 3),
    ]
    assert (second.error, second.error_type) == ("failure 2", "ValueError")
    assert second.traceback is not None and "ValueError: failure 2" in second.traceback
    assert second.metrics.duration >= 0
    step = next(e for e in events if isinstance(e, StepCompleted))
    assert (step.success, step.error, step.content.value) == (True, None, "ok after 3")


def test_the_attempts_of_a_later_step_carry_its_index() -> None:
    db = InMemoryDb()
    steps = [echo, Step(name="fetch", executor=failing_times(1))]
    Workflow(name="W", db=db, steps=steps).run("x", session_id="s")
    assert [(a.step_index, a.step_name) for a in attempts(db)] == [(1, "fetch")]


def test_what_failed_attempts_wrote_to_the_state_stays() -> None:
    """As in Agno, the state is shared by reference: a retry does not roll it back."""
    calls: list[int] = []

    def counts(step_input: StepInput) -> str:
        calls.append(1)
        step_input.session_state["tries"] = len(calls)
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "done"

    db = InMemoryDb()
    run = Workflow(name="W", db=db, steps=[counts]).run("x", session_id="s")
    assert run.session_state == {"tries": 3}
    session = db.get_session("s")
    assert session is not None and session.session_data is not None
    assert session.session_data["session_state"] == {"tries": 3}


def test_a_skipped_step_records_the_last_error_and_its_traceback() -> None:
    db = InMemoryDb()
    step = Step(name="fetch", executor=failing_times(9), max_retries=2)
    run = Workflow(name="W", db=db, steps=[step, echo]).run("x", session_id="s")
    skipped = run.step_results[0]
    assert (skipped.content, skipped.success, skipped.error) == (
        "Step skipped due to error: failure 3",
        False,
        "failure 3",
    )
    assert skipped.error_type == "ValueError" and skipped.step_name == "fetch"
    assert run.status == RunStatus.completed and run.error is None
    stored = first_run(db).step_results[0]
    assert stored.traceback is not None and "failure 3" in stored.traceback


def test_a_skipped_step_whose_error_cannot_be_printed_reads_safely() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def hostile(step_input: StepInput) -> str:
        raise Unprintable

    db = InMemoryDb()
    run = Workflow(name="W", db=db, steps=[Step(executor=hostile, max_retries=0)]).run(
        "x", session_id="s"
    )
    text = "Unprintable (its message could not be read: RuntimeError)"
    assert run.content == f"Step skipped due to error: {text}"
    assert first_run(db).step_results[0].error == text


def test_a_reported_failure_is_not_retried_and_ends_the_run_only_under_fail() -> None:
    calls: list[int] = []

    def reports(step_input: StepInput) -> StepOutput:
        calls.append(1)
        return StepOutput(content="partial", success=False)

    db = InMemoryDb()
    fail = HumanReview(on_error="fail")
    workflow = Workflow(
        name="W", db=db, steps=[Step(name="reports", executor=reports, human_review=fail)]
    )
    with pytest.raises(StepFailedError, match="Step reports reported failure") as raised:
        workflow.run("x", session_id="s", run_id="r1")
    assert isinstance(raised.value, RuntimeError)
    assert (raised.value.step_name, raised.value.run_id) == ("reports", "r1")
    assert calls == [1] and attempts(db) == []
    run = first_run(db)
    assert (run.status, run.error_type) == (RunStatus.error, "kern.domain.errors.StepFailedError")


def test_a_cancel_between_attempts_ends_the_run_before_the_next_one() -> None:
    db = InMemoryDb()
    holder: dict[str, Workflow] = {}
    calls: list[int] = []

    def cancels_itself(step_input: StepInput) -> str:
        calls.append(1)
        holder["w"].cancel_run("r1")
        raise RuntimeError("down")

    holder["w"] = Workflow(name="W", db=db, steps=[cancels_itself, echo])
    run = holder["w"].run("x", session_id="s", run_id="r1")
    assert run.status == RunStatus.cancelled
    assert calls == [1] and len(attempts(db)) == 1


def test_kerns_own_refusals_are_not_retried() -> None:
    calls: list[int] = []

    def unstorable(step_input: StepInput) -> object:
        calls.append(1)
        return object()

    db = InMemoryDb()
    with pytest.raises(TypeError):
        Workflow(name="W", db=db, steps=[unstorable]).run("x", session_id="s")
    assert calls == [1] and attempts(db) == []


def test_an_interrupt_is_not_an_attempt() -> None:
    def interrupted(step_input: StepInput) -> str:
        raise KeyboardInterrupt

    db = InMemoryDb()
    with pytest.raises(KeyboardInterrupt):
        Workflow(name="W", db=db, steps=[interrupted]).run("x", session_id="s")
    assert attempts(db) == []
    assert first_run(db).status == RunStatus.cancelled


# -- the other views of the log ----------------------------------------------------------


def test_a_stream_replays_as_it_was_streamed_live_with_attempts_in_the_log() -> None:
    db = InMemoryDb()
    steps = [echo, Step(name="fetch", executor=failing_times(2)), echo]
    live = list(
        Workflow(name="W", db=db, steps=steps).run("x", session_id="s", run_id="r", stream=True)
    )
    replayed = run_events(db.get_events("s"), "r")
    shape = [(e.event, e.version, getattr(e, "step_name", None)) for e in live]
    assert [(e.event, e.version, getattr(e, "step_name", None)) for e in replayed] == shape
    assert "StepAttemptFailed" not in {e.event for e in live}


def test_otel_shows_each_attempt_on_its_step_span() -> None:
    db = InMemoryDb()
    Workflow(name="W", db=db, steps=[Step(name="fetch", executor=failing_times(2))]).run(
        "x", session_id="s"
    )
    step_span = next(s for s in session_spans("s", db.get_events("s")) if s["name"] == "step fetch")
    attributes = {a["key"]: a["value"] for a in step_span["attributes"]}
    assert attributes["kern.step.failed_attempts"] == {"intValue": "2"}
    events = step_span["events"]
    assert [e["name"] for e in events] == ["kern.step.attempt_failed"] * 2
    first = {a["key"]: a["value"] for a in events[0]["attributes"]}
    assert first == {
        "kern.step.attempt": {"intValue": "1"},
        "error.type": {"stringValue": "ValueError"},
    }
    with_content = session_spans("s", db.get_events("s"), include_content=True)
    step_span = next(s for s in with_content if s["name"] == "step fetch")
    details = {a["key"]: a["value"] for a in step_span["events"][1]["attributes"]}
    assert details["exception.message"] == {"stringValue": "failure 2"}
    assert step_span["status"] == {"code": 1}


def test_the_log_summary_and_json_name_the_attempt() -> None:
    db = InMemoryDb()
    Workflow(name="W", db=db, steps=[Step(name="fetch", executor=failing_times(1))]).run(
        "x", session_id="s"
    )
    (attempt,) = attempts(db)
    assert event_summary(attempt) == "fetch attempt 1 of 4 error=failure 1"
    entries = db.get_log("s", event_types=["StepAttemptFailed"])
    assert [json.loads(json.dumps(e.to_json()))["payload"]["attempt"] for e in entries] == [1]


def test_a_log_with_attempts_is_a_valid_kern_log_and_an_attempt_outside_a_run_is_not() -> None:
    db = InMemoryDb()
    Workflow(name="W", db=db, steps=[Step(name="fetch", executor=failing_times(1))]).run(
        "x", session_id="s", run_id="r"
    )
    events = db.get_events("s")
    assert log_problem(events) is None
    (attempt,) = attempts(db)
    late = replace(attempt, version=len(events) + 1, timestamp=events[-1].timestamp)
    after_the_run = [*events, late]
    problem = log_problem(after_the_run)
    assert problem is not None and "already finished" in str(problem)
