"""The step primitives against Agno 3.1.10, on every store.

``tests/fixtures/agno/primitives.json`` holds what Agno 3.1.10 did with the
cases of ``primitive_cases.py`` (``make_primitives.py`` recorded it, running
the very same function steps). Kern runs each case in one session and must
give the same run contents, the same step results (names, types, contents,
success, nested steps), the same session state and the same
``<workflow_history_context>`` text, both as ``run`` returns them and as the
session reads back; streamed, the same events in the same order.

Where Kern's output is its own on purpose, the comparison maps it: a plain
step's ``step_type`` is Kern's executor kind ("function"), Agno's "Step";
Kern streams no ``StepOutput`` events (the StepCompleted event carries the
content); an unnamed Parallel's events carry the name its result has
("Parallel"), where Agno's carry None; and a streamed ``step_index`` is the
top-level step's, where Agno's is a tuple whose first item it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kern.db import KernDb
from kern.workflow import Condition, Loop, Parallel, Router, StepOutput, Steps, Workflow
from tests.fixtures.agno.primitive_cases import CASES, Case

AGNO = json.loads((Path(__file__).parents[2] / "fixtures/agno/primitives.json").read_text())
KERN = SimpleNamespace(
    Steps=Steps, Parallel=Parallel, Condition=Condition, Loop=Loop, Router=Router
)
PRIMITIVES = ("Steps", "Parallel", "Condition", "Loop", "Router")


def tree(output: StepOutput) -> dict[str, Any]:
    """A step result as the fixture records Agno's."""
    return {
        "step_name": output.step_name,
        "step_type": output.step_type if output.step_type in PRIMITIVES else "Step",
        "content": output.content,
        "success": output.success,
        "stop": output.stop,
        "steps": [tree(inner) for inner in output.steps] if output.steps else None,
    }


def workflow(db: KernDb, name: str, case: Case) -> Workflow:
    return Workflow(
        name=name,
        db=db,
        steps=case.build(KERN),
        session_state=dict(case.session_state),
        add_workflow_history_to_steps=case.history,
    )


def test_the_fixture_covers_every_case() -> None:
    """Each case was recorded with Agno, and nothing else was."""
    assert set(AGNO) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_runs_give_what_agno_gives(db: KernDb, name: str) -> None:
    """Contents, step results, state and history context, run after run."""
    flow = workflow(db, name, CASES[name])
    for expected in AGNO[name]["runs"]:
        result = flow.run(expected["input"], session_id="s")
        assert result.content == expected["content"]
        assert [tree(step) for step in result.step_results] == expected["step_results"]
        session = db.get_session("s")
        assert session is not None and session.runs is not None
        read_back = session.runs[-1]
        assert read_back.content == expected["content"]
        assert [tree(step) for step in read_back.step_results] == expected["step_results"]
        assert flow.get_session_state("s") == expected["session_state"]
        assert session.get_workflow_history_context() == expected["history_context"]


def _agno_stream(name: str) -> list[tuple[str, str | None, int | None]]:
    found = []
    for event in AGNO[name]["stream"]:
        if event["event"] == "StepOutput":
            continue
        index = event["step_index"]
        step_name = event["step_name"]
        if event["event"].startswith("ParallelExecution") and step_name is None:
            step_name = "Parallel"
        found.append((event["event"], step_name, index[0] if isinstance(index, list) else index))
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_streams_agnos_events_in_agnos_order(db: KernDb, name: str) -> None:
    """The primitives' events (Steps/Parallel/Condition/Loop/Router) as Agno names them."""
    case = CASES[name]
    events = list(workflow(db, name, case).run(case.inputs[0], session_id="s", stream=True))
    streamed = [
        (e.event, getattr(e, "step_name", None), getattr(e, "step_index", None)) for e in events
    ]
    assert streamed == _agno_stream(name)
