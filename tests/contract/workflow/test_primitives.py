"""The step primitives in the log, on every store: each inner step is recorded as it
completes with its path in the tree, and what reads the log (step views, run
events, replay, run diffs, the read model) works inside them."""

from __future__ import annotations

from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.events import RunCompleted, StepAttemptFailed, StepCompleted
from kern.errors import AsyncStoreError, InvalidInputError, InvalidStepError
from kern.run import RunStatus
from kern.workflow import Condition, Loop, Parallel, Router, StepInput, Steps, Workflow
from tests.conftest import failing
from tests.contract.workflow.test_arun import AnyDb, adb, drive
from tests.fixtures.agno.primitive_cases import count_up, first, last, second, third

__all__ = ["adb"]  # the fixture: arun on each kind of store, as test_arun drives it


def fail(step_input: StepInput) -> str:
    raise ValueError(f"no luck with {step_input.previous_step_content}")


def pipeline(db: KernDb, **kwargs: Any) -> Workflow:
    """first, then Steps "middle" (second, then a Loop of count_up twice), then last."""
    middle = Steps(
        name="middle", steps=[second, Loop(name="again", steps=[count_up], max_iterations=2)]
    )
    return Workflow(name="Pipeline", db=db, steps=[first, middle, last], **kwargs)


def steps_of(db: KernDb, session_id: str = "s") -> list[StepCompleted]:
    return [e for e in db.get_events(session_id) if isinstance(e, StepCompleted)]


def test_every_inner_step_is_recorded_as_it_completes_with_its_path(db: KernDb) -> None:
    """Inner steps before the primitive around them; step_index is the top-level step's."""
    pipeline(db).run("topic", session_id="s")
    recorded = [(s.step_name, s.step_path, s.step_index, s.step_type) for s in steps_of(db)]
    assert recorded == [
        ("first", "1", 0, "function"),
        ("second", "2.1", 1, "function"),
        ("count_up", "2.2.1", 1, "function"),
        ("count_up", "2.2.2", 1, "function"),
        ("again", "2.2", 1, "Loop"),
        ("middle", "2", 1, "Steps"),
        ("last", "3", 2, "function"),
    ]
    assert [s.path for s in steps_of(db)][::6] == ["", ""]  # top-level steps store no path


def test_the_read_model_nests_inner_results_under_their_primitive(db: KernDb) -> None:
    """As run() returned them: a Loop's iterations flattened, in order."""
    result = pipeline(db).run("topic", session_id="s")
    session = db.get_session("s")
    assert session is not None and session.runs is not None
    for run in (result, session.runs[0]):
        middle = run.step_results[1]
        assert [s.step_name for s in run.step_results] == ["first", "middle", "last"]
        assert middle.steps is not None and middle.steps[1].steps is not None
        assert [s.content for s in middle.steps[1].steps] == [
            "count=1 after second(first(topic))",
            "count=2 after second(first(topic))",
        ]
        assert run.content == "last(count=2 after second(first(topic)))"
    assert session.runs[0].to_dict() == result.to_dict() | {
        "input": "topic",
        "step_results": session.runs[0].to_dict()["step_results"],
    }


def test_an_inner_step_that_raises_ends_the_run_as_error_and_its_primitives_fail(
    db: KernDb,
) -> None:
    """The step and the Steps and Loop around it are recorded failed, then the run."""
    flow = Workflow(
        db=db,
        steps=[first, Steps(name="outer", steps=[second, Loop(steps=[failing(fail)])]), last],
    )
    with pytest.raises(ValueError, match="no luck"):
        flow.run("x", session_id="s")
    recorded = [(s.step_name, s.step_path, s.success) for s in steps_of(db)]
    assert recorded == [
        ("first", "1", True),
        ("second", "2.1", True),
        ("fail", "2.2.1", False),
        (None, "2.2", False),
        ("outer", "2", False),
    ]
    assert all("no luck" in str(s.error) for s in steps_of(db)[2:])
    end = db.get_events("s")[-1]
    assert isinstance(end, RunCompleted) and end.status == RunStatus.error
    run = db.get_session("s").runs[0]  # type: ignore[union-attr,index]
    assert [s.step_name for s in run.step_results] == ["first", "outer"]
    assert str(run.step_results[1].steps[1].steps[0].error).startswith("no luck")  # type: ignore[index]


def test_an_inner_step_that_raises_is_retried_then_skipped_by_default(db: KernDb) -> None:
    """A step's failure policy holds inside a primitive too (Agno's defaults: three
    retries, then skipped), and the run goes on."""
    flow = Workflow(db=db, steps=[first, Steps(name="outer", steps=[second, fail]), last])
    output = flow.run("x", session_id="s")
    assert output.status == RunStatus.completed
    attempts = [e for e in db.get_events("s") if isinstance(e, StepAttemptFailed)]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    recorded = [(s.step_name, s.step_path, s.success) for s in steps_of(db)]
    assert recorded[:3] == [("first", "1", True), ("second", "2.1", True), ("fail", "2.2", False)]
    skipped = output.step_results[1].steps[1]  # type: ignore[index]
    assert str(skipped.content).startswith("Step skipped due to error: no luck")


def test_a_stream_closed_inside_a_primitive_keeps_what_finished_and_ends_cancelled(
    db: KernDb,
) -> None:
    """A consumer that leaves mid-Loop: the steps before are recorded, the Loop not done."""
    events = pipeline(db).run("topic", session_id="s", stream=True)
    for event in events:
        if event.event == "StepStarted" and getattr(event, "path", None) == "2.2.2":
            break
    events.close()
    recorded = [(s.step_path, s.success) for s in steps_of(db)]
    assert recorded == [("1", True), ("2.1", True), ("2.2.1", True), ("2.2", False), ("2", False)]
    end = db.get_events("s")[-1]
    assert isinstance(end, RunCompleted) and end.status == RunStatus.cancelled


def test_the_step_view_addresses_an_inner_step_by_its_path(db: KernDb) -> None:
    """What the second count_up received and started with; an index names a top-level step."""
    run = pipeline(db, session_state={"count": 5}).run("topic", session_id="s")
    assert run.run_id is not None
    view = db.get_step_view("s", run.run_id, "2.2.2")
    assert (view.step_name, view.path, view.step_index) == ("count_up", "2.2.2", 1)
    assert view.input["previous_step_content"] == "second(first(topic))"
    assert view.session_state == {"count": 6}
    assert view.content == "count=7 after second(first(topic))"
    assert db.get_step_view("s", run.run_id, 1).step_name == "middle"
    assert db.get_step_view("s", run.run_id, "count_up").path == "2.2.1"
    with pytest.raises(InvalidInputError, match=r"recorded no step '2.9'.*2.2.1: count_up"):
        db.get_step_view("s", run.run_id, "2.9")


def write(key: str) -> Any:
    def step(step_input: StepInput) -> str:
        step_input.session_state[key] = sorted(step_input.session_state)
        return key

    step.__name__ = f"write_{key}"
    return step


def test_parallel_steps_each_start_from_the_state_before_the_parallel(db: KernDb) -> None:
    """Neither sees the other's writes, live or in its step view; both land, in order."""
    flow = Workflow(db=db, steps=[Parallel(write("a"), write("b"), name="fan"), write("c")])
    run = flow.run("x", session_id="s", session_state={"seen": 1})
    assert run.run_id is not None
    assert flow.get_session_state("s") == {
        "seen": 1,
        "a": ["seen"],
        "b": ["seen"],
        "c": ["a", "b", "seen"],
    }
    assert db.get_step_view("s", run.run_id, "1.2").session_state == {"seen": 1}
    assert db.get_step_view("s", run.run_id, 1).session_state == {
        "seen": 1,
        "a": ["seen"],
        "b": ["seen"],
    }


def test_a_parallel_step_writing_a_key_another_wrote_wins_by_its_place(db: KernDb) -> None:
    """The later step of the Parallel holds the key, whichever finished first."""

    def one(step_input: StepInput) -> None:
        step_input.session_state["k"] = 1

    def two(step_input: StepInput) -> None:
        step_input.session_state["k"] = 2

    Workflow(db=db, steps=[Parallel(two, one)]).run("x", session_id="s")
    assert db.get_session("s").session_data["session_state"] == {"k": 1}  # type: ignore[union-attr,index]


def test_run_events_replayed_from_the_log_are_the_streamed_ones(db: KernDb) -> None:
    """All but a Loop's iteration events, which no stored event reflects."""
    flow = pipeline(db)
    live = list(flow.run("topic", session_id="s", stream=True))
    assert [e.event for e in live].count("LoopIterationStarted") == 2
    run_id = live[0].run_id
    assert run_id is not None
    kept = [e.to_dict() for e in live if not e.event.startswith("LoopIteration")]
    assert [e.to_dict() for e in flow.get_run_events(run_id, "s")] == kept
    middle = next(
        e for e in live if e.event == "StepCompleted" and e.to_dict().get("path") == "2.2.1"
    )
    resumed = flow.get_run_events(run_id, "s", after=middle.version)
    assert [e.to_dict() for e in resumed] == [
        e
        for e in kept
        if e["version"] > middle.version
        or (e["version"] == middle.version and e["event"].endswith("Started"))
    ]


def test_stream_events_false_leaves_out_the_primitives_events(db: KernDb) -> None:
    events = pipeline(db).run("topic", session_id="s", stream=True, stream_events=False)
    assert [e.event for e in events] == ["WorkflowStarted", "WorkflowCompleted"]


def test_replaying_a_run_with_primitives_compares_every_inner_step(db: KernDb) -> None:
    """Unchanged code replays equal; a changed inner step shows at its path."""
    flow = pipeline(db)
    run = flow.run("topic", session_id="s")
    assert run.run_id is not None
    report = flow.replay(run.run_id, "s")
    assert not report.changed
    assert [d.path for d in report.steps] == ["1", "2.1", "2.2.1", "2.2.2", "2.2", "2", "3"]
    flow.steps[1].steps[0] = third
    changed = flow.replay(run.run_id, "s")
    differing = [(d.path, d.outcome) for d in changed.steps if d.outcome != "equal"]
    assert differing[0] == ("2.1", "changed")


def test_two_runs_compare_inner_step_by_inner_step(db: KernDb) -> None:
    """A Router that chose another step: the diff says which, at which path."""
    route = Router(
        name="route", selector=lambda step_input: str(step_input.input), choices=[second, third]
    )
    flow = Workflow(db=db, steps=[first, route])
    a = flow.run("second", session_id="s")
    b = flow.run("third", session_id="s")
    assert a.run_id is not None and b.run_id is not None
    diff = db.diff_runs("s", a.run_id, b.run_id)
    outcomes = [(c.name, c.outcome, c.path_a, c.path_b) for c in diff.steps]
    assert outcomes == [
        ("first", "changed", "1", "1"),
        ("second / third", "changed", "2.1", "2.1"),
        ("route", "changed", "2", "2"),
    ]


def test_a_condition_that_is_not_met_records_itself_alone(db: KernDb) -> None:
    flow = Workflow(db=db, steps=[Condition(name="gate", evaluator=False, steps=[second]), last])
    assert flow.run("x", session_id="s").content == "last(Condition gate not met - skipped 1 steps)"
    assert [(s.step_name, s.step_path) for s in steps_of(db)] == [("gate", "1"), ("last", "2")]


def test_an_inner_step_asking_to_stop_ends_the_primitive_and_the_run(db: KernDb) -> None:
    from kern.workflow import StepOutput

    def stop(step_input: StepInput) -> StepOutput:
        return StepOutput(content="enough", stop=True)

    flow = Workflow(db=db, steps=[Loop(name="l", steps=[stop, second], max_iterations=3), last])
    result = flow.run("x", session_id="s")
    assert result.content == "enough"
    assert [(s.step_name, s.step_path) for s in steps_of(db)] == [("stop", "1.1"), ("l", "1")]


def test_the_fingerprint_covers_the_steps_inside_a_primitive(db: KernDb) -> None:
    a = Workflow(db=db, steps=[Steps(name="s", steps=[second])]).fingerprint
    b = Workflow(db=db, steps=[Steps(name="s", steps=[third])]).fingerprint
    c = Workflow(db=db, steps=[Condition(name="s", steps=[second], evaluator=lambda i: True)])
    assert a != b
    assert c.fingerprint not in (a, b)


async def later(step_input: StepInput) -> str:
    return f"later({step_input.previous_step_content})"


def test_run_refuses_an_async_step_inside_a_primitive_before_recording(db: KernDb) -> None:
    flow = Workflow(db=db, steps=[first, Steps(name="inner", steps=[later])])
    with pytest.raises(AsyncStoreError, match="step 'inner' runs an async step"):
        flow.run("x", session_id="s")
    assert db.get_session("s") is None


def test_a_primitive_with_a_step_kern_cannot_run_is_refused_when_built() -> None:
    with pytest.raises(InvalidStepError, match="step 2 is a int"):
        Steps(name="bad", steps=[second, 42])
    with pytest.raises(InvalidStepError, match="step 1 is a str"):
        Loop(steps=[Parallel(second, Condition(steps=["nope"]))])


async def is_long(step_input: StepInput) -> bool:
    return len(str(step_input.input)) > 3


async def choose(step_input: StepInput) -> str:
    return "later"


def async_pipeline(db: AnyDb) -> Workflow:
    """Async steps, an async evaluator and an async selector inside primitives."""
    gate = Condition(name="gate", evaluator=is_long, steps=[later, second])
    route = Router(name="route", selector=choose, choices=[third, later])
    return Workflow(
        name="Async", db=db, steps=[first, Steps(name="both", steps=[gate, route]), last]
    )


def test_arun_awaits_async_steps_and_functions_inside_primitives(adb: AnyDb) -> None:
    """The same paths and contents as run gives, each step recorded as it completes."""

    async def body() -> Any:
        return await async_pipeline(adb).arun("topic", session_id="s")

    result = drive(adb, body)
    assert result.content == "last(later(second(later(first(topic)))))"
    both = result.step_results[1]
    assert [s.step_name for s in both.steps] == ["gate", "route"]
    assert [s.content for s in both.steps[0].steps] == [
        "later(first(topic))",
        "second(later(first(topic)))",
    ]


def test_arun_streams_the_primitives_events(adb: AnyDb) -> None:
    async def body() -> list[tuple[str, str | None]]:
        flow = async_pipeline(adb)
        stream = flow.arun("topic", session_id="s", stream=True)
        return [(e.event, getattr(e, "path", None)) async for e in stream]

    events = drive(adb, body)
    assert events == [
        ("WorkflowStarted", None),
        ("StepStarted", None),
        ("StepCompleted", None),
        ("StepsExecutionStarted", "2"),
        ("ConditionExecutionStarted", "2.1"),
        ("StepStarted", "2.1.1"),
        ("StepCompleted", "2.1.1"),
        ("StepStarted", "2.1.2"),
        ("StepCompleted", "2.1.2"),
        ("ConditionExecutionCompleted", "2.1"),
        ("RouterExecutionStarted", "2.2"),
        ("StepStarted", "2.2.1"),
        ("StepCompleted", "2.2.1"),
        ("RouterExecutionCompleted", "2.2"),
        ("StepsExecutionCompleted", "2"),
        ("StepStarted", None),
        ("StepCompleted", None),
        ("WorkflowCompleted", None),
    ]


def test_a_run_read_mid_primitive_shows_the_inner_steps_finished_by_then(db: KernDb) -> None:
    """As of the first count_up, the Steps and the Loop are not recorded yet: a
    placeholder (no name, no type) holds what they ran so far, in its place."""
    run = pipeline(db).run("topic", session_id="s")
    first_count = next(s for s in steps_of(db) if s.step_path == "2.2.1")
    then = db.get_session("s", as_of=first_count.version)
    assert then is not None and then.runs is not None
    partial = then.runs[0]
    assert partial.status == RunStatus.running
    assert [(s.step_name, s.step_type, s.step_index) for s in partial.step_results] == [
        ("first", "function", 0),
        (None, None, 1),
    ]
    middle = partial.step_results[1].steps or []
    assert [(s.step_name, s.content) for s in middle] == [
        ("second", "second(first(topic))"),
        (None, None),
    ]
    assert [s.step_name for s in middle[1].steps or []] == ["count_up"]
    now = db.get_session("s")
    assert now is not None and now.runs is not None
    assert run.run_id == now.runs[0].run_id
    assert [s.step_name for s in now.runs[0].step_results] == ["first", "middle", "last"]
