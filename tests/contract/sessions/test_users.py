"""Contract: a session belongs to the user who started it; others are kept out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.errors import SessionAccessError, SessionNotFoundError
from kern.run import WorkflowRunOutput
from kern.workflow import StepInput, Workflow

MakeWorkflow = Callable[..., Workflow]


@pytest.fixture
def workflow(make_workflow: MakeWorkflow) -> Workflow:
    """A workflow with no user of its own, so each call names its user."""
    return make_workflow()


@pytest.fixture
def alices_run(workflow: Workflow) -> WorkflowRunOutput:
    """Alice's session "shared-id", with one run and some state."""
    return workflow.run(
        input="alice's question", session_id="shared-id", user_id="alice", session_state={"k": 1}
    )


def test_intruders_run_is_refused_and_not_recorded(
    db: KernDb, make_workflow: MakeWorkflow, alices_run: WorkflowRunOutput
) -> None:
    """Kern fixes: Agno still writes the intruder's run into the owner's session."""
    calls: list[object] = []

    def spy(step_input: StepInput) -> str:
        calls.append(step_input.input)
        return "bob was here"

    before = db.get_events("shared-id")
    with pytest.raises(SessionAccessError) as refused:
        make_workflow(steps=[spy]).run(
            input="bob's question", session_id="shared-id", user_id="bob"
        )
    assert refused.value.session_id == "shared-id"
    assert calls == []
    assert db.get_events("shared-id") == before
    session = db.get_session("shared-id")
    assert session is not None and session.runs is not None
    assert [run.run_id for run in session.runs] == [alices_run.run_id]


def test_intruder_cannot_rename(db: KernDb, workflow: Workflow, alices_run: object) -> None:
    """Refused as for a session that does not exist: nothing tells bob it does."""
    before = db.get_events("shared-id")
    with pytest.raises(SessionNotFoundError):
        workflow.set_session_name(session_id="shared-id", session_name="bob's", user_id="bob")
    with pytest.raises(SessionNotFoundError):
        workflow.set_session_name(session_id="shared-id", autogenerate=True, user_id="bob")
    assert db.get_events("shared-id") == before
    assert workflow.get_session_name(session_id="shared-id", user_id="alice") == ""


def test_intruder_cannot_update_state(db: KernDb, workflow: Workflow, alices_run: object) -> None:
    before = db.get_events("shared-id")
    with pytest.raises(SessionNotFoundError):
        workflow.update_session_state({"k": 2}, session_id="shared-id", user_id="bob")
    assert db.get_events("shared-id") == before
    assert workflow.get_session_state(session_id="shared-id", user_id="alice") == {"k": 1}


def test_intruder_cannot_delete(db: KernDb, workflow: Workflow, alices_run: object) -> None:
    before = db.get_events("shared-id")
    assert workflow.delete_session(session_id="shared-id", user_id="bob") is False
    assert db.get_events("shared-id") == before
    assert workflow.get_session(session_id="shared-id", user_id="alice") is not None


def test_intruder_reads_nothing(workflow: Workflow, alices_run: WorkflowRunOutput) -> None:
    assert workflow.get_session(session_id="shared-id", user_id="bob") is None
    assert alices_run.run_id is not None
    assert workflow.get_run(alices_run.run_id, session_id="shared-id", user_id="bob") is None
    assert workflow.get_last_run_output(session_id="shared-id", user_id="bob") is None


@pytest.mark.parametrize("read", ["get_session_name", "get_session_state", "get_chat_history"])
def test_intruders_named_reads_say_not_found(
    workflow: Workflow, alices_run: object, read: str
) -> None:
    with pytest.raises(SessionNotFoundError) as refused:
        getattr(workflow, read)(session_id="shared-id", user_id="bob")
    assert refused.value.session_id == "shared-id"


def test_intruder_sees_no_events_and_no_listing(db: KernDb, alices_run: object) -> None:
    assert db.get_events("shared-id", user_id="bob") == []
    assert db.get_sessions(user_id="bob") == []
    assert [s.session_id for s in db.get_sessions(user_id="alice")] == ["shared-id"]


def test_owner_reads_and_writes_her_session(
    db: KernDb, workflow: Workflow, alices_run: WorkflowRunOutput
) -> None:
    workflow.run(input="again", session_id="shared-id", user_id="alice")
    workflow.set_session_name(session_id="shared-id", session_name="Alice's", user_id="alice")
    workflow.update_session_state({"k": 2}, session_id="shared-id", user_id="alice")
    session = workflow.get_session(session_id="shared-id", user_id="alice")
    assert session is not None and session.runs is not None
    assert len(session.runs) == 2
    assert session.session_name == "Alice's"
    assert session.session_state == {"k": 2}
    assert workflow.delete_session(session_id="shared-id", user_id="alice") is True


def test_caller_without_user_id_reads_every_session(
    workflow: Workflow, alices_run: WorkflowRunOutput
) -> None:
    session = workflow.get_session(session_id="shared-id")
    assert session is not None
    assert session.user_id == "alice"
    assert alices_run.run_id is not None
    assert workflow.get_run(alices_run.run_id, session_id="shared-id") is not None
    assert workflow.get_session_name(session_id="shared-id") == ""
    assert workflow.get_session_state(session_id="shared-id") == {"k": 1}
    assert [pair.input for pair in workflow.get_chat_history(session_id="shared-id")] == [
        "alice's question"
    ]


def test_workflow_user_id_is_the_default_caller(
    make_workflow: MakeWorkflow, alices_run: object
) -> None:
    as_bob = make_workflow(user_id="bob")
    assert as_bob.get_session(session_id="shared-id") is None
    with pytest.raises(SessionAccessError):
        as_bob.run(input="hi", session_id="shared-id")
    as_alice = make_workflow(user_id="alice")
    assert as_alice.get_session(session_id="shared-id") is not None


def test_run_of_another_users_session_id_does_not_leak_its_state(
    make_workflow: MakeWorkflow, alices_run: object
) -> None:
    """Bob's refused run never sees Alice's state in a step."""
    seen: list[dict[str, object]] = []

    def peek(step_input: StepInput) -> None:
        seen.append(dict(step_input.session_state))

    with pytest.raises(SessionAccessError):
        make_workflow(steps=[peek]).run(input="hi", session_id="shared-id", user_id="bob")
    assert seen == []
