"""Shared fixtures: every store Kern has, and small workflows to run on them.

``db`` is parametrized over the stores, so a test that takes it is part of
the contract suite and runs on each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.sqlite import SqliteDb
from kern.workflow import StepInput, Workflow

STORES = ["memory", "sqlite"]


def make_db(kind: str, tmp_path: Path) -> KernDb:
    """A fresh, empty store of the given kind."""
    if kind == "memory":
        return InMemoryDb()
    if kind == "sqlite":
        return SqliteDb(db_file=tmp_path / "kern.db")
    raise ValueError(kind)


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of the store under test."""
    return str(request.param)


@pytest.fixture
def db(store_kind: str, tmp_path: Path) -> Iterator[KernDb]:
    """An empty store of each kind, closed after the test."""
    store = make_db(store_kind, tmp_path)
    yield store
    store.close()


def echo(step_input: StepInput) -> str:
    """A step that answers with its input."""
    return f"echo: {step_input.input}"


def shout(step_input: StepInput) -> str:
    """A step that upper-cases what the previous step said."""
    return str(step_input.previous_step_content).upper()


@pytest.fixture
def make_workflow(db: KernDb) -> Callable[..., Workflow]:
    """Build a workflow on the store under test (two steps unless told otherwise)."""

    def build(**kwargs: Any) -> Workflow:
        kwargs.setdefault("name", "Test Pipeline")
        kwargs.setdefault("steps", [echo, shout])
        return Workflow(db=db, **kwargs)

    return build
