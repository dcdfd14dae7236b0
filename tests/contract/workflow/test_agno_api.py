"""Agno 3.1.10 API Kern lacked: ``Workflow.save_session``, ``Step.get_chat_history``
and ``StepInput.get_all_previous_content``, on every store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.events import SessionRenamed, SessionStateUpdated
from kern.errors import InvalidInputError, InvalidStepError, SessionNotFoundError
from kern.workflow import Step, StepInput, Workflow
from tests.conftest import echo
from tests.contract.workflow.test_arun import AnyDb, drive
from tests.contract.workflow.test_arun import adb as adb  # the fixture, for arun on every store


@dataclass
class Reply:
    content: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class Writer:
    """An agent-like executor with an id: each run is a user and an assistant message."""

    agent_id = "writer"

    def run(self, message: str) -> Reply:
        answer = f"draft of {message}"
        return Reply(
            content=answer,
            messages=[
                {"role": "user", "content": message},
                {"role": "assistant", "content": answer},
            ],
        )


# -- save_session -----------------------------------------------------------------------------


def test_save_session_stores_a_changed_name_and_state_in_one_commit(db: KernDb) -> None:
    workflow = Workflow(name="W", db=db, steps=[echo], session_state={"a": 1, "b": 2})
    workflow.run("x", session_id="s1", user_id="alice")
    session = workflow.get_session("s1", user_id="alice")
    assert session is not None and session.session_data is not None
    session.session_data["session_name"] = "Renamed by hand"
    session.session_data["session_state"] = {"a": 10, "c": [1]}
    before = len(db.get_events("s1"))
    saved = workflow.save_session(session)
    assert saved.session_name == "Renamed by hand"
    assert saved.session_state == {"a": 10, "c": [1]}
    new = db.get_events("s1")[before:]
    assert [type(e) for e in new] == [SessionRenamed, SessionStateUpdated]
    assert isinstance(new[1], SessionStateUpdated)
    assert (new[1].changes.set, new[1].changes.removed) == ({"a": 10, "c": [1]}, ["b"])
    assert workflow.save_session(saved).session_state == {"a": 10, "c": [1]}
    assert len(db.get_events("s1")) == before + 2  # nothing changed: nothing recorded


def test_save_session_of_another_users_or_an_unknown_session_is_not_found(db: KernDb) -> None:
    workflow = Workflow(name="W", db=db, steps=[echo])
    workflow.run("x", session_id="s1", user_id="alice")
    session = workflow.get_session("s1", user_id="alice")
    assert session is not None
    with pytest.raises(SessionNotFoundError):
        workflow.save_session(session, user_id="mallory")
    session.session_id = "never-started"
    with pytest.raises(SessionNotFoundError):
        workflow.save_session(session)
    with pytest.raises(InvalidInputError, match="WorkflowSession"):
        workflow.save_session({"session_id": "s1"})  # type: ignore[arg-type]


def test_asave_session_stores_the_state(adb: AnyDb) -> None:
    workflow = Workflow(name="W", db=adb, steps=[echo])

    async def body() -> Any:
        await workflow.arun("x", session_id="s1")
        session = await workflow.aget_session("s1")
        assert session is not None and session.session_data is not None
        session.session_data["session_state"] = {"saved": True}
        await workflow.asave_session(session)
        return await workflow.aget_session_state("s1")

    assert drive(adb, body) == {"saved": True}


# -- Step.get_chat_history ---------------------------------------------------------------------


def test_a_steps_chat_history_is_its_agents_messages_in_the_session(db: KernDb) -> None:
    write = Step(name="write", agent=Writer())
    workflow = Workflow(name="W", db=db, steps=[echo, write])
    for topic in ("a", "b", "c"):
        workflow.run(topic, session_id="s1", user_id="alice")
    history = write.get_chat_history("s1", user_id="alice")
    assert [(m.role, m.content) for m in history][:2] == [
        ("user", "echo: a"),
        ("assistant", "draft of echo: a"),
    ]
    assert len(history) == 6
    assert [m.content for m in write.get_chat_history("s1", 1, "alice")] == [
        "echo: c",
        "draft of echo: c",
    ]
    assert write.get_chat_history("s1", user_id="mallory") == []
    assert write.get_chat_history("no-such-session", user_id="alice") == []
    assert Step(executor=echo).get_chat_history("s1") == []


def test_a_steps_chat_history_is_awaited_on_any_store(adb: AnyDb) -> None:
    write = Step(name="write", agent=Writer())
    workflow = Workflow(name="W", db=adb, steps=[write])

    async def body() -> Any:
        await workflow.arun("a", session_id="s1")
        return await write.aget_chat_history("s1")

    assert [m.content for m in drive(adb, body)] == ["a", "draft of a"]


def test_a_step_in_no_workflow_has_no_chat_history_to_read() -> None:
    with pytest.raises(InvalidStepError, match="in no Workflow"):
        Step(name="write", agent=Writer()).get_chat_history("s1")


# -- StepInput.get_all_previous_content ----------------------------------------------------------


def test_a_step_reads_all_previous_content_as_agno_writes_it(db: KernDb) -> None:
    def blank(step_input: StepInput) -> str:
        return "   "

    def collect(step_input: StepInput) -> str:
        return step_input.get_all_previous_content()

    def first(step_input: StepInput) -> str:
        return step_input.get_all_previous_content() or "(nothing before)"

    workflow = Workflow(name="W", db=db, steps=[first, echo, blank, collect])
    run = workflow.run("x", session_id="s1")
    assert run.content == "=== first ===\n(nothing before)\n\n=== echo ===\necho: x"
