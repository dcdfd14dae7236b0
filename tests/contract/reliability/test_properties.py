"""Properties: random sequences of operations, on every store, against a reference model.

Hypothesis draws a session's life: runs with inputs and outputs of every JSON
type (nested, unicode, NUL, big integers, floats), runs whose steps fail,
session_state passed to a run and changed by its steps, renames, state
updates, and runs left open while others start and finish (through the
aggregate, as two workers would interleave them). Every projection Kern
serves must equal the one :mod:`tests.contract.reliability._model` computes, and the
events recorded in memory must read back identically from SQLite and
PostgreSQL through a freshly opened store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.domain.values import RunStatus, StoredValue
from kern.session import WorkflowSession
from kern.workflow import StepInput, Workflow
from tests.conftest import failing
from tests.contract.reliability._inputs import reopened
from tests.contract.reliability._model import Model, ModelRun, same

USER = "u"
WINDOWS = [None, -1, 0, 1, 2, 5]

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# -- what Hypothesis draws ----------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
states = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
names = st.text(min_size=1, max_size=20).filter(lambda name: "\x00" not in name)


@dataclass(frozen=True)
class Run:
    """A workflow run: one step per output; step ``fail_at`` raises instead."""

    input: Any
    outputs: list[Any]
    fail_at: int | None
    session_state: dict[str, Any] | None
    step_state: dict[str, Any]


@dataclass(frozen=True)
class Open:
    """A run started by another worker and left open for now."""

    input: Any


@dataclass(frozen=True)
class Close:
    """That worker ends one of its open runs (which one: ``pick`` modulo their number)."""

    pick: int
    content: Any
    completed: bool


@dataclass(frozen=True)
class Rename:
    name: str


@dataclass(frozen=True)
class UpdateState:
    updates: dict[str, Any]


@st.composite
def runs(draw: st.DrawFn) -> Run:
    outputs = draw(st.lists(json_values, min_size=1, max_size=3))
    fail_at = draw(st.none() | st.integers(0, len(outputs) - 1))
    return Run(draw(json_values), outputs, fail_at, draw(st.none() | states), draw(states))


operations = st.one_of(
    runs(),
    st.builds(Open, json_values),
    st.builds(Close, st.integers(0, 10), json_values, st.booleans()),
    st.builds(Rename, names),
    st.builds(UpdateState, states),
)
lives = st.tuples(runs(), st.lists(operations, max_size=8)).map(lambda t: [t[0], *t[1]])


# -- applying them to Kern and to the model ---------------------------------------------------


class StepFailed(Exception):
    """What a failing step raises."""


def steps_for(run: Run) -> list[Any]:
    def step(index: int) -> Callable[[StepInput], Any]:
        def execute(step_input: StepInput) -> Any:
            if index == run.fail_at:
                raise StepFailed(f"step {index} failed")
            if index == 0:
                step_input.session_state.update(run.step_state)
            return run.outputs[index]

        execute.__name__ = f"step_{index}"
        return execute

    # A failing step ends the run as ERROR (one attempt, on_error="fail").
    return [
        failing(step(index)) if index == run.fail_at else step(index)
        for index in range(len(run.outputs))
    ]


class Life:
    """One session's operations, applied to Kern and to the model side by side."""

    def __init__(self, db: KernDb) -> None:
        self.db = db
        self.session_id = f"p-{uuid.uuid4().hex}"
        self.model = Model()
        self.open: list[str] = []
        self.count = 0

    def apply(self, operation: object) -> None:
        self.count += 1
        run_id = f"run-{self.count}"
        if isinstance(operation, Run):
            self.run(operation, run_id)
        elif isinstance(operation, Open):
            self.start(operation, run_id)
        elif isinstance(operation, Close) and self.open:
            self.close(operation)
        elif isinstance(operation, Rename):
            self.workflow().set_session_name(
                session_id=self.session_id, session_name=operation.name, user_id=USER
            )
            self.model.name = operation.name
        elif isinstance(operation, UpdateState):
            self.workflow().update_session_state(
                operation.updates, session_id=self.session_id, user_id=USER
            )
            self.model.state.update(operation.updates)

    def workflow(self, run: Run | None = None) -> Workflow:
        return Workflow(name="Props", db=self.db, steps=steps_for(run) if run else [str])

    def run(self, run: Run, run_id: str) -> None:
        call = lambda: self.workflow(run).run(  # noqa: E731
            input=run.input,
            session_id=self.session_id,
            user_id=USER,
            session_state=run.session_state,
            run_id=run_id,
        )
        model = ModelRun(run_id, run.input)
        self.model.runs.append(model)
        self.model.state.update(run.session_state or {})
        if run.fail_at is None:
            call()
            model.status, model.content, model.step_contents = (
                "COMPLETED",
                run.outputs[-1],
                list(run.outputs),
            )
        else:
            with pytest.raises(StepFailed):
                call()
            failed = f"step {run.fail_at} failed"  # its result shows the error, as Agno's
            model.status, model.step_contents = "ERROR", [*run.outputs[: run.fail_at], failed]
        if run.fail_at != 0:
            self.model.state.update(run.step_state)

    def start(self, operation: Open, run_id: str) -> None:
        def decide(session: Any) -> None:
            session.start(user_id=USER, workflow_id="props", workflow_name="Props")
            session.start_run(
                run_id=run_id,
                user_id=USER,
                input=StoredValue.of(operation.input),
                session_state=dict(session.state),
            )

        self.db.execute(self.session_id, decide)
        self.open.append(run_id)
        self.model.runs.append(ModelRun(run_id, operation.input))

    def close(self, operation: Close) -> None:
        run_id = self.open.pop(operation.pick % len(self.open))
        status = RunStatus.completed if operation.completed else RunStatus.error
        self.db.execute(
            self.session_id,
            lambda session: session.complete_run(
                run_id=run_id,
                user_id=USER,
                status=status,
                content=StoredValue.of(operation.content),
            ),
        )
        model = self.model.run(run_id)
        model.status, model.content = str(status), operation.content


def live(db: KernDb, operations: list[object]) -> Life:
    life = Life(db)
    for operation in operations:
        life.apply(operation)
    return life


# -- what must agree ---------------------------------------------------------------------------


def assert_matches(session: WorkflowSession | None, model: Model) -> None:
    assert session is not None and session.runs is not None
    kern_runs = [
        (r.run_id, str(r.status), r.input, r.content, [s.content for s in r.step_results])
        for r in session.runs
    ]
    model_runs = [(r.run_id, r.status, r.input, r.content, r.step_contents) for r in model.runs]
    assert same(kern_runs, model_runs), (kern_runs, model_runs)
    assert session.session_name == model.name
    assert same(session.session_state, model.state), (session.session_state, model.state)
    for n in WINDOWS:
        assert session.get_workflow_history(num_runs=n) == model.history(n)
        assert session.get_workflow_history_context(num_runs=n) == model.context(n)
        chat = [(c.input, c.output) for c in session.get_chat_history(last_n_runs=n)]
        assert same(chat, model.chat(n))
    assert WorkflowSession.from_dict(session.to_dict()) == session


@pytest.mark.slow
@PROPERTY_SETTINGS
@given(operations=lives)
def test_every_projection_equals_the_reference_model(db: KernDb, operations: list[object]) -> None:
    life = live(db, operations)
    assert_matches(db.get_session(life.session_id, USER), life.model)
    workflow = life.workflow()
    assert workflow.get_session_name(session_id=life.session_id) == life.model.name
    assert same(workflow.get_session_state(session_id=life.session_id), life.model.state)


@pytest.mark.slow
@PROPERTY_SETTINGS
@given(operations=lives)
def test_a_session_read_back_from_each_store_equals_the_one_in_memory(
    db: KernDb, operations: list[object]
) -> None:
    memory = InMemoryDb()
    life = live(memory, operations)
    events = memory.get_events(life.session_id)
    expected = memory.get_session(life.session_id)
    assert expected is not None
    db.store.append(events)
    with reopened(db) as fresh:
        assert fresh.get_events(life.session_id) == events
        session = fresh.get_session(life.session_id)
        assert session == expected
        assert session is not None and session.to_dict() == expected.to_dict()
        assert_matches(session, life.model)
        assert fresh.verify(life.session_id).ok
