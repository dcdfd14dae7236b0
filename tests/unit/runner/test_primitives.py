"""The step primitives on their own: Agno's constructor arguments, what Kern refuses
when they are built, what a step reads of earlier results inside them, and how
their results are kept (paths in the log, segments, old logs)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from kern.db.in_memory import InMemoryDb
from kern.domain.encoding import encode_json, link_hash
from kern.domain.events import RunStarted, StepCompleted
from kern.domain.records import decode_record
from kern.errors import InvalidInputError, InvalidStepError
from kern.projections.fold import project_session
from kern.projections.otel import session_spans
from kern.projections.segments import encode_segment, restore
from kern.workflow import (
    Condition,
    Loop,
    Parallel,
    Router,
    Step,
    StepInput,
    StepOutput,
    Steps,
    Workflow,
)
from tests.fixtures.agno.primitive_cases import count_up, first, last, second, third


class TestAgnosArguments:
    """The primitives take what Agno 3.1.10's take, positional and by keyword."""

    def test_parallel_takes_its_name_first_or_by_keyword(self) -> None:
        assert (Parallel("both", first, second).name, Parallel(first, second).name) == (
            "both",
            None,
        )
        named = Parallel(first, second, name="kw", description="two at once")
        assert (named.name, named.description, named.steps) == (
            "kw",
            "two at once",
            [first, second],
        )

    def test_condition_loop_and_router_take_their_steps_first(self) -> None:
        condition = Condition([second], lambda step_input: True, [third], "gate")
        assert (condition.steps, condition.else_steps, condition.name) == (
            [second],
            [third],
            "gate",
        )
        assert Condition(steps=[second]).evaluator is True
        loop = Loop([count_up], "again", None, 2)
        assert (loop.name, loop.max_iterations, loop.end_condition) == ("again", 2, None)
        assert Loop(steps=[count_up]).max_iterations == 3
        router = Router([second, third], lambda step_input: "third", "route")
        assert router.name == "route"

    def test_a_list_among_a_routers_choices_runs_as_steps_named_as_agno_names_them(self) -> None:
        router = Router(
            choices=[second, [second, third]], selector=lambda step_input: "steps_group_1"
        )
        grouped = router.prepared()[1]
        assert isinstance(grouped, Steps) and grouped.name == "steps_group_1"
        result = Workflow(steps=[first, router]).run("x")
        assert result.content == "third(second(first(x)))"

    def test_a_selector_may_return_a_step_or_take_the_choices(self) -> None:
        picked = Step(name="picked", executor=third)

        def selector(step_input: StepInput, step_choices: list[Any]) -> Any:
            assert step_choices[0] is second
            return picked

        result = Workflow(steps=[Router(choices=[second, picked], selector=selector)]).run("x")
        assert [s.step_name for s in result.step_results[0].steps or []] == ["picked"]


class TestRefusedWhenBuilt:
    """InvalidStepError names what is wrong, before any run."""

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (lambda: Loop(steps=[second], max_iterations=0), "max_iterations must be 1 or more"),
            (lambda: Loop(steps=[second], max_iterations=True), "max_iterations must be an int"),
            (lambda: Loop(steps=[second], end_condition="x > 1"), "CEL expression"),  # type: ignore[arg-type]
            (lambda: Loop(steps=[second], end_condition=3), "end_condition must be a function"),  # type: ignore[arg-type]
            (lambda: Condition(steps=[second], evaluator="input.contains('a')"), "CEL expression"),  # type: ignore[arg-type]
            (
                lambda: Condition(steps=[second], evaluator=None),  # type: ignore[arg-type]
                "evaluator must be a function or a bool",
            ),
            (lambda: Router(choices=[second]), "needs a selector function"),
            (lambda: Parallel(name="empty"), "Parallel 'empty' needs at least one step"),
            (lambda: Steps(name="s", steps="second"), "must be a list of steps, got str"),
            (lambda: Steps(name=3), "Steps name must be a str, got int"),  # type: ignore[arg-type]
            (lambda: Steps(steps=[second, 42]), "step 2 is a int"),
            (lambda: Loop(steps=[second], human_review=object()), "human review"),
            (lambda: Parallel(second, human_review=object()), "human review"),
        ],
    )
    def test_bad_arguments(self, build: Any, message: str) -> None:
        with pytest.raises(InvalidStepError, match=message):
            build()


class TestEarlierResultsInside:
    """What a step reads of the steps before it, as Agno's StepInput gives it."""

    def test_get_step_content_finds_steps_inside_primitives_and_gives_the_deepest(self) -> None:
        seen: dict[str, Any] = {}

        def look(step_input: StepInput) -> str:
            for name in ("middle", "third", "fan", "nowhere"):
                seen[name] = step_input.get_step_content(name)
            seen["output"] = step_input.get_step_output("second")
            return "looked"

        middle = Steps(name="middle", steps=[second, third])
        Workflow(steps=[first, middle, Parallel(second, third, name="fan"), look]).run("x")
        assert seen["middle"] == seen["third"] == "third(second(first(x)))"
        assert seen["fan"] == {
            "second": "second(third(second(first(x))))",
            "third": "third(third(second(first(x))))",
        }
        assert seen["nowhere"] is None
        assert isinstance(seen["output"], StepOutput)
        assert seen["output"].content == "second(first(x))"

    def test_an_unnamed_loop_hands_its_last_steps_content_to_the_next_step(self) -> None:
        result = Workflow(steps=[Loop(steps=[count_up], max_iterations=2), last]).run("x")
        assert result.step_results[0].step_name is None
        assert result.content == "last(count=2 after None)"

    def test_an_end_condition_that_raises_does_not_end_the_loop(self) -> None:
        def broken(outputs: list[StepOutput]) -> bool:
            raise RuntimeError("no")

        result = Workflow(
            steps=[Loop(steps=[count_up], end_condition=broken, max_iterations=2)]
        ).run("x")
        assert result.content == "count=2 after None"


class TestKept:
    """Inner steps in the log, in segments and in logs older Kerns wrote."""

    def test_a_path_outside_the_running_top_level_step_is_refused_and_nothing_written(self) -> None:
        db = InMemoryDb()
        Workflow(db=db, steps=[first]).run("x", session_id="s", run_id="r")
        before = db.get_events("s")
        started = before[1]
        assert isinstance(started, RunStarted)

        def record(path: str) -> None:
            def decide(session: Any) -> None:
                session.start_run(run_id="r2", user_id=None, input=started.input, session_state={})
                session.complete_step(
                    run_id="r2",
                    user_id=None,
                    input=started.input,
                    content=started.input,
                    path=path,
                )

            db.execute("s", decide)

        for path in ("2.1", "1", "1.0", "1.x", "01.1", "1..2", "¹.1"):
            with pytest.raises(InvalidInputError, match="is not an inner step of step 1"):
                record(path)
        assert db.get_events("s") == before

    def test_a_segment_keeps_the_inner_steps(self) -> None:
        db = InMemoryDb()
        flow = Workflow(
            db=db,
            session_id="s",
            steps=[first, Steps(name="m", steps=[second, Parallel(third, last)])],
        )
        for n in range(2):
            flow.run(f"run {n} " * 12)
        session = project_session(db.get_events("s"))
        assert session is not None and session.runs is not None
        segment = encode_segment(session, hash=db.get_events("s")[-1].hash, previous=None)
        fold, _ = restore([segment])
        assert fold.session == session
        assert fold.session is not None and fold.session.runs is not None
        assert fold.session.runs[1].step_results[1].steps[1].steps[0].content == (  # type: ignore[index]
            session.runs[1].step_results[1].steps[1].steps[0].content  # type: ignore[index]
        )

    def test_a_step_written_at_schema_version_2_reads_as_a_top_level_step(self) -> None:
        """A log from before paths: its steps have none, and read as they did."""
        db = InMemoryDb()
        Workflow(db=db, steps=[first, second]).run("x", session_id="s")
        records = db.store.read_records("s")
        step = records[2]
        data = json.loads(step.state)
        assert data["schema_version"] == 3
        del data["hash"]
        previous = json.loads(records[1].state)["hash"]
        body = encode_json({**data, "schema_version": 2})
        stored_hash = link_hash(previous, step.topic, step.session_id, step.version, body)
        old = step._replace(state=body[:-1] + b',"hash":' + encode_json(stored_hash) + b"}")
        event = decode_record(old)
        assert isinstance(event, StepCompleted)
        assert (event.path, event.step_path, event.is_top_level) == ("", "1", True)
        current = db.get_events("s")[2]
        assert replace(event, hash=current.hash, provenance=current.provenance) == current


def test_an_inner_steps_span_is_a_child_of_its_primitives_span() -> None:
    """A primitive has a step span (no executor span), covering its steps' spans."""
    db = InMemoryDb()
    flow = Workflow(
        db=db,
        steps=[
            first,
            Steps(name="m", steps=[second, Loop(name="l", steps=[third], max_iterations=1)]),
        ],
    )
    flow.run("x", session_id="s")
    spans = {
        s["name"]: s for s in session_spans("s", db.get_events("s")) if s["name"].startswith("step")
    }
    assert set(spans) == {"step first", "step second", "step third", "step l", "step m"}
    assert spans["step third"]["parentSpanId"] == spans["step l"]["spanId"]
    assert (
        spans["step l"]["parentSpanId"]
        == spans["step second"]["parentSpanId"]
        == spans["step m"]["spanId"]
    )
    assert spans["step m"]["parentSpanId"] == spans["step first"]["parentSpanId"]
    path = {a["key"]: a["value"] for a in spans["step third"]["attributes"]}["kern.step.path"]
    assert path == {"stringValue": "2.2.1"}
    assert int(spans["step m"]["startTimeUnixNano"]) <= int(
        spans["step second"]["startTimeUnixNano"]
    )
