"""strict_users=True: every call must name a user, so no code path acts as everyone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.errors import InvalidInputError, InvalidUserIdError, UserRequiredError
from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.conftest import close, make_db
from tests.contract.kinds import STORES


@pytest.fixture(params=STORES)
def strict(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KernDb]:
    """A strict_users store of each kind, holding one session of alice's."""
    db = make_db(request.param, tmp_path, request, strict_users=True)
    Workflow(name="Strict", db=db, steps=[echo]).run("hi", session_id="s1", user_id="alice")
    yield db
    close(db)


UNSCOPED: dict[str, Callable[[KernDb], Any]] = {
    "run": lambda db: Workflow(name="W", db=db, steps=[echo]).run("x", session_id="s2"),
    "get_session": lambda db: db.get_session("s1"),
    "get_sessions": lambda db: db.get_sessions(),
    "get_deleted_sessions": lambda db: db.get_deleted_sessions(),
    "get_events": lambda db: db.get_events("s1"),
    "get_log": lambda db: db.get_log("s1"),
    "get_step_view": lambda db: db.get_step_view("s1", "r", 0),
    "rename": lambda db: db.rename_session("s1", "name"),
    "update_state": lambda db: db.update_session_state("s1", {"k": 1}),
    "delete": lambda db: db.delete_session("s1"),
    "delete_sessions": lambda db: db.delete_sessions(["s1"]),
    "fork": lambda db: db.fork_session("s1", at=1, new_session_id="f"),
    "export": lambda db: list(db.export("s1")),
    "read_feed": lambda db: db.read_feed(),
    "import": lambda db: db.import_lines([]),
    "verify": lambda db: db.verify(),
    "anchor": lambda db: db.anchor(Ed25519PrivateKey.generate()),
    "workflow-get_sessions": lambda db: Workflow(name="W", db=db).get_sessions(),
}


@pytest.mark.parametrize("call", UNSCOPED.values(), ids=UNSCOPED.keys())
def test_a_call_without_a_user_is_refused_and_writes_nothing(
    strict: KernDb, call: Callable[[KernDb], Any]
) -> None:
    before = strict.get_events("s1", user_id="alice")
    with pytest.raises(UserRequiredError, match="strict_users=True") as refused:
        call(strict)
    assert isinstance(refused.value, InvalidUserIdError | InvalidInputError)
    assert strict.get_events("s1", user_id="alice") == before
    assert strict.get_sessions(user_id="alice")[0].session_id == "s1"
    assert strict.get_events("s2", user_id="alice") == []
    assert strict.get_events("f", user_id="alice") == []


def test_every_call_that_names_its_user_works(strict: KernDb) -> None:
    """The control: the same store serves a caller that says who it is."""
    workflow = Workflow(name="Strict", db=strict, steps=[echo], user_id="alice")
    workflow.run("again", session_id="s1")
    assert len(workflow.get_session(session_id="s1").runs or []) == 2  # type: ignore[union-attr]
    assert [s.session_id for s in workflow.get_sessions()] == ["s1"]
    assert strict.rename_session("s1", "Named", user_id="alice") is not None
    assert strict.update_session_state("s1", {"k": 1}, user_id="alice") == {"k": 1}
    assert len(list(strict.export("s1", user_id="alice"))) == len(
        strict.get_events("s1", user_id="alice")
    )
    assert strict.get_session("s1", user_id="bob") is None
    assert strict.verify(user_id="alice").ok
    assert strict.delete_session("s1", user_id="alice") is True


def test_an_empty_string_is_a_user_even_when_strict(strict: KernDb) -> None:
    """Only None is "no user": the empty string names a user, who owns nothing here."""
    assert strict.get_session("s1", user_id="") is None
    assert strict.get_sessions(user_id="") == []


def test_the_default_stays_unscoped_as_agno() -> None:
    db = InMemoryDb()
    Workflow(name="W", db=db, steps=[echo]).run("hi", session_id="s1", user_id="alice")
    assert db.strict_users is False
    assert db.get_session("s1") is not None


def test_strict_users_must_be_a_bool() -> None:
    with pytest.raises(InvalidInputError, match="strict_users"):
        InMemoryDb(strict_users="yes")  # type: ignore[arg-type]
