"""Fixtures for the HTTP API: a store of each kind with two users' sessions in it,
and clients of the app built on it (admin, or scoped to a user by a header).

The app is driven in-process by Starlette's TestClient; the live event stream
and ``kern serve`` are driven over a real loopback socket (tests/web/server.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kern.db import KernDb
from kern.web import create_app
from kern.workflow import Workflow
from tests.conftest import echo, shout
from tests.contract.conftest import close, make_db
from tests.contract.kinds import SYNC_STORES

USER_HEADER = "X-Kern-User"


@dataclass
class Seeded:
    """The store and what was recorded in it."""

    db: KernDb
    alice: str
    """alice's session: two runs, renamed, with state."""
    alice_runs: list[str]
    bob: str
    """bob's session: one run."""
    bob_runs: list[str]


def seed(db: KernDb) -> Seeded:
    """Two users' sessions: alice's with two runs that differ, bob's with one."""
    workflow = Workflow(name="Pipeline", steps=[echo, shout], db=db)
    alice_runs = [
        workflow.run(input=text, session_id="alice-s", user_id="alice").run_id
        for text in ("first question", "second question")
    ]
    db.rename_session("alice-s", "Alice's research", "alice")
    db.update_session_state("alice-s", {"topic": "<script>alert(1)</script>"}, "alice")
    bob_runs = [workflow.run(input="bob's secret", session_id="bob-s", user_id="bob").run_id]
    return Seeded(db, "alice-s", [r for r in alice_runs if r], "bob-s", [r for r in bob_runs if r])


@pytest.fixture(params=SYNC_STORES)
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Seeded]:
    """A store of each sync kind, seeded; closed after the test."""
    db = make_db(str(request.param), tmp_path, request)
    yield seed(db)
    close(db)


@pytest.fixture(params=[kind for kind in SYNC_STORES if kind != "sqlite-keyring"])
def plain_seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Seeded]:
    """A store of each sync kind without a keyring, seeded; closed after the test."""
    db = make_db(str(request.param), tmp_path, request)
    yield seed(db)
    close(db)


def scoped_client(db: KernDb) -> TestClient:
    """A client of the app scoped by the X-Kern-User header."""
    return TestClient(create_app(db, user=lambda request: request.headers.get(USER_HEADER)))


@pytest.fixture
def admin(seeded: Seeded) -> Iterator[TestClient]:
    """A client of the unscoped app."""
    with TestClient(create_app(seeded.db, admin=True)) as client:
        yield client


@pytest.fixture
def scoped(seeded: Seeded) -> Iterator[TestClient]:
    """A client of the app scoped by the X-Kern-User header."""
    with scoped_client(seeded.db) as client:
        yield client


def as_user(user: str) -> dict[str, str]:
    """The headers of a request made as ``user``."""
    return {USER_HEADER: user}
