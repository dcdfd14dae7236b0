"""What the PostgreSQL store tries again: lost connections, through its one retry
policy, and never an error the server would give again.
"""

from __future__ import annotations

import random
import string
import time
from typing import Any

import psycopg
import pytest

from kern.db.postgres import PostgresDb
from kern.errors import InvalidUserIdError, StoreError
from kern.run import RunStatus
from kern.workflow import Workflow
from tests.conftest import echo
from tests.postgres.conftest import store_of
from tests.postgres.test_load_and_faults import terminate_kern_connections

pytestmark = pytest.mark.postgres

GENEROUS = 5.0
"""Seconds: a third of the retry budget, so a retried call cannot pass unnoticed."""


@pytest.fixture
def retries(pgdb: PostgresDb) -> list[BaseException]:
    """Every failure the store's retry policy is about to try again."""
    seen: list[BaseException] = []
    store_of(pgdb).retry.on_retry = lambda exc, pause: seen.append(exc)
    return seen


def unindexable(length: int = 6000) -> str:
    """Text PostgreSQL cannot compress below the btree limit (2704 bytes), unlike "x" * 6000."""
    rng = random.Random(6000)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def test_a_value_too_large_to_index_fails_at_once_and_writes_nothing(
    pgdb: PostgresDb, retries: list[BaseException]
) -> None:
    """A 6,000-character workflow id passes Kern's checks but not the listing's index
    (SQLSTATE 54000, an OperationalError to psycopg): a StoreError saying so, not a retry."""
    workflow = Workflow(name="Long", id=unindexable(), db=pgdb, steps=[echo])
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"index row size \d+ exceeds btree") as raised:
        workflow.run("hi", session_id="s1")
    assert time.monotonic() - started < GENEROUS
    assert retries == []
    assert "could not append to session 's1'" in str(raised.value)
    assert pgdb.store.read("s1") == []
    assert pgdb.get_sessions() == []
    assert Workflow(name="Short", db=pgdb, steps=[echo]).run("hi", session_id="s1").content


def test_a_user_id_that_long_is_refused_before_any_sql(pgdb: PostgresDb) -> None:
    """Unlike the workflow id, a user_id is checked up front (at most 255 characters)."""
    workflow = Workflow(name="Long", db=pgdb, steps=[echo])
    with pytest.raises(InvalidUserIdError):
        workflow.run("hi", session_id="s1", user_id=unindexable())


def test_a_lost_connection_goes_through_the_retry_policy(
    pgdb: PostgresDb, admin: psycopg.Connection[Any], retries: list[BaseException]
) -> None:
    """Connections killed while idle: the next read fails on one, the policy checks
    the pool and tries again, and the caller sees only the answer."""
    workflow = Workflow(name="Killed", db=pgdb, steps=[echo])
    workflow.run("one", session_id="s1")
    store_of(pgdb).cache.clear()  # so the next read goes to the database
    assert terminate_kern_connections(admin, pgdb) >= 1
    session = pgdb.get_session("s1")
    assert session is not None and session.runs is not None
    assert [run.status for run in session.runs] == [RunStatus.completed]
    assert len(retries) >= 1
    assert all(isinstance(exc.__cause__, psycopg.OperationalError) for exc in retries)
