"""The examples of the workflow-sessions page run as written, with ``kern`` imports.

Each block below is copied from the page (line numbers removed). On SQLite
the block runs unchanged in a temporary working directory, so
``workflows.db`` lands there; on the in-memory store the one expression
``SqliteDb(db_file="workflows.db")`` is swapped for ``InMemoryDb()``.
``steps=[...]`` is the page's own placeholder: Kern runs ``...`` as a step
that hands its input on.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.run import RunStatus
from kern.workflow import Workflow

SEED_DB = 'SqliteDb(db_file="workflows.db")'

HOW_SESSIONS_WORK = """\
from kern.workflow import Workflow
from kern.db.sqlite import SqliteDb

workflow = Workflow(
    name="Research Pipeline",
    db=SqliteDb(db_file="workflows.db"),
    steps=[...],
)

# Each run creates or updates the workflow session
result = workflow.run(input="AI trends", session_id="session_123")
"""

DATABASE_OPTIONS = """\
from kern.db.sqlite import SqliteDb

# Quick start - SQLite
workflow = Workflow(
    name="Research Pipeline",
    db=SqliteDb(db_file="workflows.db"),
    steps=[...],
)
"""

WORKFLOW_HISTORY = """\
from kern.workflow import Workflow
from kern.db.sqlite import SqliteDb

workflow = Workflow(
    name="Content Pipeline",
    db=SqliteDb(db_file="workflows.db"),
    steps=[...],
    add_workflow_history_to_steps=True, # Include previous runs
    num_history_runs=5, # Limit how many runs to load
)
"""

MANUAL_NAMING = """\
from kern.workflow import Workflow
from kern.db.sqlite import SqliteDb

workflow = Workflow(
    name="Research Pipeline",
    db=SqliteDb(db_file="workflows.db"),
    steps=[...],
)

workflow.run(input="Analyze AI trends", session_id="session_123")
workflow.set_session_name(session_id="session_123", session_name="AI Trends Analysis Q4 2024")

# Retrieve the name
name = workflow.get_session_name(session_id="session_123")
print(name) # "AI Trends Analysis Q4 2024"
"""

AUTO_GENERATION = """\
workflow = Workflow(
    name="Research Pipeline",
    description="Automated research and analysis pipeline",
    db=SqliteDb(db_file="workflows.db"),
    steps=[...],
)

workflow.run(input="Research topic", session_id="session_123")
workflow.set_session_name(session_id="session_123", autogenerate=True)

name = workflow.get_session_name(session_id="session_123")
print(name) # "Automated research and analysis pipel - 2024-11-19 14:30"
"""

PAGE = [HOW_SESSIONS_WORK, DATABASE_OPTIONS, WORKFLOW_HISTORY, MANUAL_NAMING, AUTO_GENERATION]

# What the blocks without their own imports rely on: the page's first imports.
PAGE_IMPORTS = "from kern.workflow import Workflow\nfrom kern.db.sqlite import SqliteDb\n"


class SeedRunner:
    """Runs seed blocks on one store kind and closes the stores they open."""

    def __init__(self, store_kind: str, workdir: Path) -> None:
        self.store_kind = store_kind
        self.workdir = workdir
        self.opened: list[KernDb] = []

    def run(self, source: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
        """Execute ``source`` (in ``namespace`` if given) and return the namespace."""
        if namespace is None:
            namespace = {}
            exec(PAGE_IMPORTS, namespace)
        if self.store_kind == "memory":
            assert SEED_DB in source
            source = source.replace(SEED_DB, "InMemoryDb()")
            namespace["InMemoryDb"] = InMemoryDb
        exec(compile(textwrap.dedent(source), "<seed>", "exec"), namespace)
        self.opened.append(namespace["workflow"].db)
        return namespace

    def close(self) -> None:
        for db in self.opened:
            db.close()


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """The seeds name the embedded stores: they run as written on those two."""
    return str(request.param)


@pytest.fixture
def seed(store_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A runner for seed blocks, working in an empty temporary directory."""
    monkeypatch.chdir(tmp_path)
    runner = SeedRunner(store_kind, tmp_path)
    yield runner
    runner.close()
    # The in-memory runs must not have touched the disk.
    assert (tmp_path / "workflows.db").exists() == (store_kind == "sqlite")


def test_each_run_creates_or_updates_the_session(seed: SeedRunner) -> None:
    """The first example: one run of a pass-through pipeline lands in session_123."""
    namespace = seed.run(HOW_SESSIONS_WORK)
    result = namespace["result"]
    assert result.status == RunStatus.completed
    assert result.session_id == "session_123"
    assert result.content == "AI trends"
    session = namespace["workflow"].get_session(session_id="session_123")
    assert [run.run_id for run in session.runs] == [result.run_id]
    assert session.runs[0].input == "AI trends"
    assert session.workflow_name == "Research Pipeline"


def test_database_options_example_builds_a_working_workflow(seed: SeedRunner) -> None:
    namespace = seed.run(DATABASE_OPTIONS)
    result = namespace["workflow"].run(input="AI trends", session_id="session_123")
    assert result.status == RunStatus.completed
    assert result.content == "AI trends"


def test_history_example_keeps_previous_runs_for_the_steps(seed: SeedRunner) -> None:
    namespace = seed.run(WORKFLOW_HISTORY)
    workflow: Workflow = namespace["workflow"]
    assert workflow.add_workflow_history_to_steps is True
    assert workflow.num_history_runs == 5
    workflow.run(input="Create a blog post about AI", session_id="session_123")
    workflow.run(input="Write about machine learning", session_id="session_123")
    session = workflow.get_session(session_id="session_123")
    assert session is not None
    assert session.get_workflow_history_context(num_runs=workflow.num_history_runs) == (
        "<workflow_history_context>\n"
        "[Workflow Run-1]\n"
        "User input: Create a blog post about AI\n"
        "Workflow output: Create a blog post about AI\n"
        "\n"
        "[Workflow Run-2]\n"
        "User input: Write about machine learning\n"
        "Workflow output: Write about machine learning\n"
        "\n"
        "</workflow_history_context>\n"
    )


def test_manual_naming_prints_the_given_name(
    seed: SeedRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    seed.run(MANUAL_NAMING)
    assert capsys.readouterr().out == "AI Trends Analysis Q4 2024\n"


def test_auto_generation_prints_the_seed_name(
    seed: SeedRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 2024-11-19 14:30 local time the description is cut to 37 characters."""
    with freeze_time("2024-11-19 14:30:00", tz_offset=0):
        seed.run(AUTO_GENERATION)
    assert capsys.readouterr().out == "Automated research and analysis pipel - 2024-11-19 14:30\n"


def test_auto_generation_without_description_says_workflow_session(
    seed: SeedRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    without_description = AUTO_GENERATION.replace(
        '    description="Automated research and analysis pipeline",\n', ""
    )
    assert without_description != AUTO_GENERATION
    with freeze_time("2024-11-19 14:30:00", tz_offset=0):
        seed.run(without_description)
    assert capsys.readouterr().out == "Workflow Session - 2024-11-19 14:30\n"


def test_auto_generation_keeps_a_short_description_whole(db: KernDb) -> None:
    workflow = Workflow(name="Research Pipeline", description="Daily digest", db=db, steps=[...])
    workflow.run(input="Research topic", session_id="session_123")
    with freeze_time("2024-11-19 09:05:59", tz_offset=0):
        workflow.set_session_name(session_id="session_123", autogenerate=True)
    assert workflow.get_session_name(session_id="session_123") == "Daily digest - 2024-11-19 09:05"


def test_the_whole_page_runs_top_to_bottom(
    seed: SeedRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    """All blocks in one namespace, as a reader pasting them in order would."""
    namespace: dict[str, Any] = {}
    with freeze_time("2024-11-19 14:30:00", tz_offset=0):
        for block in PAGE:
            seed.run(block, namespace)
    assert capsys.readouterr().out == (
        "AI Trends Analysis Q4 2024\nAutomated research and analysis pipel - 2024-11-19 14:30\n"
    )
    session = namespace["workflow"].get_session(session_id="session_123")
    if seed.store_kind == "sqlite":
        # Every block opened the same file, so session_123 holds all three runs.
        assert [run.input for run in session.runs] == [
            "AI trends",
            "Analyze AI trends",
            "Research topic",
        ]
    else:
        assert [run.input for run in session.runs] == ["Research topic"]


def test_seed_placeholder_step_is_recorded_as_a_step(db: KernDb) -> None:
    """``...`` runs as a step of its own, recorded like any other."""
    workflow = Workflow(name="Research Pipeline", db=db, steps=[...])
    result = workflow.run(input={"topic": "AI"}, session_id="session_123")
    assert result.content == {"topic": "AI"}
    (step,) = result.step_results
    assert step.step_type == "placeholder"
    assert step.content == {"topic": "AI"}
