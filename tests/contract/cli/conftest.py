"""Fixtures for the ``kern`` command tests: a database the command opens by
``--db`` (a SQLite file, or PostgreSQL with ``--schema``/``--table``), the same
database open in Python to seed and check it, and a way to run the command
in-process and capture what it printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kern.adapters.cli.demo_workflow import demo_topic, demo_workflow
from kern.adapters.cli.main import main
from kern.db import KernDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from tests.conftest import POSTGRES_URL, postgres_table

TARGETS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Result:
    """What one ``kern`` invocation returned and printed."""

    status: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        """stdout as JSON lines."""
        return [json.loads(line) for line in self.out.splitlines()]


@dataclass
class Target:
    """A database as the command line names it, and the same database in Python."""

    kind: str
    options: list[str]
    db: KernDb
    capsys: pytest.CaptureFixture[str]

    def kern(self, *argv: str) -> Result:
        """Run ``kern <db options> argv...`` in this process."""
        return run_kern(self.capsys, *self.options, *argv)


def run_kern(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """Run ``kern argv...`` in this process; what it printed, and its exit status."""
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    return Result(status, captured.out, captured.err)


@pytest.fixture(params=TARGETS)
def target(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Target]:
    """An empty database of each kind the command line can open."""
    with open_target(str(request.param), request, tmp_path, capsys) as made:
        yield made


@pytest.fixture
def seeded(target: Target) -> Target:
    """``target`` holding the sessions :func:`seed` records."""
    return seed(target)


@pytest.fixture
def seeded_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Target]:
    """A seeded SQLite file only (for tests that edit the file behind Kern's back)."""
    with open_target("sqlite", request, tmp_path, capsys) as made:
        yield seed(made)


@contextmanager
def open_target(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Target]:
    """An empty database of ``kind``, closed afterwards."""
    if kind == "sqlite":
        db_file = tmp_path / "kern.db"
        db: KernDb = SqliteDb(db_file=db_file)
        options = ["--db", str(db_file)]
    else:
        schema = request.getfixturevalue("postgres_schema")
        table = postgres_table()
        db = PostgresDb(POSTGRES_URL, session_table=table, db_schema=schema)
        options = ["--db", POSTGRES_URL, "--schema", schema, "--table", table]
    with db:
        db.get_sessions(limit=1)  # the tables, created: read commands never create them
        yield Target(kind, options, db, capsys)


def seed(target: Target) -> Target:
    """Two sessions: "research" (alice, two demo runs, named) and "notes" (bob, one run)."""
    workflow = demo_workflow(target.db)
    for index in range(2):
        workflow.run(
            input=demo_topic(index),
            session_id="research",
            user_id="alice",
            run_id=f"run-{index + 1}",
            correlation_id=f"ticket-{index + 1}",
        )
    workflow.set_session_name(session_id="research", session_name="Research notes")
    workflow.run(input="Event sourcing", session_id="notes", user_id="bob", run_id="run-b")
    return target
