"""Who may do what: another user reads nothing and writes nothing, on every store.

Kern fixes: Agno writes the intruder's run into the owner's session. The
matrix below runs every session operation as Mallory on Alice's session and
checks, below Kern's codec, that the store holds exactly what it held before.
tests/contract/sessions/test_users.py tests the owner's side and the reads in depth;
tests/postgres/test_passwords.py keeps a PostgreSQL password out of errors and logs,
tests/sqlite/test_append_only.py checks SQLite's log refuses changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.errors import SessionAccessError, SessionNotFoundError
from kern.workflow import Workflow
from tests.contract.reliability._inputs import contents

Call = Callable[[KernDb, Workflow, str], object]

ALICE, MALLORY = "alice", "mallory"
SESSION, RUN = "alices", "r1"


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Alice's session, with two runs, a name and some state."""
    workflow = make_workflow()
    workflow.run(input="q1", session_id=SESSION, user_id=ALICE, run_id=RUN)
    workflow.run(input="q2", session_id=SESSION, user_id=ALICE, session_state={"k": 1})
    workflow.set_session_name(session_id=SESSION, session_name="Alice's", user_id=ALICE)
    return workflow


# operation -> (Mallory's call, what she gets: a value, or the error it raises)
MATRIX: dict[str, tuple[Call, object]] = {
    "run": (
        lambda db, wf, user: wf.run(input="hi", session_id=SESSION, user_id=user),
        SessionAccessError,
    ),
    "get_session": (lambda db, wf, user: wf.get_session(session_id=SESSION, user_id=user), None),
    "get_session-as_of": (lambda db, wf, user: db.get_session(SESSION, user, as_of=2), None),
    "get_run": (lambda db, wf, user: wf.get_run(RUN, session_id=SESSION, user_id=user), None),
    "get_last_run_output": (
        lambda db, wf, user: wf.get_last_run_output(session_id=SESSION, user_id=user),
        None,
    ),
    "get_sessions": (lambda db, wf, user: db.get_sessions(user_id=user), []),
    "history-chat": (
        lambda db, wf, user: wf.get_chat_history(session_id=SESSION, user_id=user),
        SessionNotFoundError,
    ),
    "history-events": (lambda db, wf, user: db.get_events(SESSION, user_id=user), []),
    "history-log": (lambda db, wf, user: db.get_log(SESSION, user_id=user), []),
    "history-step": (
        lambda db, wf, user: db.get_step_view(SESSION, RUN, 0, user_id=user),
        SessionNotFoundError,
    ),
    "get_session_name": (
        lambda db, wf, user: wf.get_session_name(session_id=SESSION, user_id=user),
        SessionNotFoundError,
    ),
    "get_session_state": (
        lambda db, wf, user: wf.get_session_state(session_id=SESSION, user_id=user),
        SessionNotFoundError,
    ),
    "rename": (
        lambda db, wf, user: wf.set_session_name(
            session_id=SESSION, session_name="x", user_id=user
        ),
        SessionNotFoundError,
    ),
    "rename-autogenerate": (
        lambda db, wf, user: wf.set_session_name(
            session_id=SESSION, autogenerate=True, user_id=user
        ),
        SessionNotFoundError,
    ),
    "update_state": (
        lambda db, wf, user: wf.update_session_state({"k": 2}, session_id=SESSION, user_id=user),
        SessionNotFoundError,
    ),
    "delete": (lambda db, wf, user: wf.delete_session(SESSION, user_id=user), False),
    "db-rename": (lambda db, wf, user: db.rename_session(SESSION, "x", user_id=user), None),
    "db-delete": (lambda db, wf, user: db.delete_session(SESSION, user_id=user), False),
    "db-delete_sessions": (lambda db, wf, user: db.delete_sessions([SESSION], user_id=user), 0),
    "db-update_state": (
        lambda db, wf, user: db.update_session_state(SESSION, {"k": 2}, user_id=user),
        SessionNotFoundError,
    ),
    "workflow-get_sessions": (
        lambda db, wf, user: wf.__class__(db=db, user_id=user).get_sessions(user_id=None),
        [],
    ),
    "fork": (
        lambda db, wf, user: db.fork_session(SESSION, at=RUN, new_session_id="m", user_id=user),
        SessionNotFoundError,
    ),
    "export": (lambda db, wf, user: db.export(SESSION, user_id=user), SessionNotFoundError),
    "export-all": (lambda db, wf, user: list(db.export(user_id=user)), []),
    "export_otel": (
        lambda db, wf, user: db.export_otel(SESSION, user_id=user),
        SessionNotFoundError,
    ),
    "export_otel-all": (
        lambda db, wf, user: db.export_otel(user_id=user),
        {"resourceSpans": []},
    ),
    "replay": (
        lambda db, wf, user: wf.replay(RUN, session_id=SESSION, user_id=user),
        SessionNotFoundError,
    ),
}


@pytest.mark.parametrize("user", [MALLORY, ""], ids=["mallory", "empty-string-user"])
@pytest.mark.parametrize(("call", "outcome"), MATRIX.values(), ids=MATRIX.keys())
def test_another_user_gets_nothing_and_records_nothing(
    db: KernDb, workflow: Workflow, call: Call, outcome: object, user: str
) -> None:
    """Another user, the empty string included (a user like any other, never "no
    user"), gets what a session that does not exist gives, and records nothing."""
    before = contents(db)
    listing = db.get_sessions()
    if isinstance(outcome, type) and issubclass(outcome, Exception):
        with pytest.raises(outcome) as refused:
            call(db, workflow, user)
        assert isinstance(refused.value, SessionAccessError | SessionNotFoundError)
        assert refused.value.session_id == SESSION
        assert repr(SESSION) in str(refused.value)
        assert "q1" not in str(refused.value)
    else:
        assert call(db, workflow, user) == outcome
    assert contents(db) == before
    assert db.get_sessions() == listing


def test_the_owner_can_do_everything_the_matrix_refuses(db: KernDb, workflow: Workflow) -> None:
    """The control: Alice's own calls go through, so the refusals above are about the user."""
    assert workflow.get_run(RUN, session_id=SESSION, user_id=ALICE) is not None
    assert db.get_step_view(SESSION, RUN, 0, user_id=ALICE).step_index == 0
    assert len(list(db.export(SESSION, user_id=ALICE))) == len(db.get_events(SESSION))
    assert {json.loads(line)["session_id"] for line in db.export(user_id=ALICE)} == {SESSION}
    assert db.export_otel(SESSION, user_id=ALICE) == db.export_otel(user_id=ALICE)
    assert db.export_otel(user_id=ALICE)["resourceSpans"]
    assert workflow.replay(RUN, session_id=SESSION, user_id=ALICE).run_id == RUN
    fork = db.fork_session(SESSION, at=RUN, new_session_id="a2", user_id=ALICE)
    assert fork.user_id == ALICE
    workflow.run(input="q3", session_id=SESSION, user_id=ALICE)
    workflow.update_session_state({"k": 2}, session_id=SESSION, user_id=ALICE)
    assert workflow.delete_session(SESSION, user_id=ALICE) is True


def test_a_session_without_an_owner_refuses_a_named_user(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    """A session started without user_id belongs to nobody: a named user may not write it."""
    workflow = make_workflow()
    workflow.run(input="hi", session_id="anon")
    before = contents(db)
    with pytest.raises(SessionAccessError):
        workflow.run(input="mine now", session_id="anon", user_id=MALLORY)
    assert workflow.get_session(session_id="anon", user_id=MALLORY) is None
    assert contents(db) == before
