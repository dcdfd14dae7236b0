"""The README and docs/ run as written, and ``kern demo`` shows what Kern stores.

Every ```python block of README.md and docs/*.md is executed: the blocks of
one file in order, in one module namespace, in a temporary working directory
(so files such as workflows.db are created there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kern.adapters.cli.main import main
from kern.db import KernDb
from kern.db.sqlite import SqliteDb
from kern.run import RunStatus
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python", "text", "sh"}

README_COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/kern demo",
    'python3 -m venv .venv && .venv/bin/pip install -q -e ".[dev]" && .venv/bin/python -m pytest',
]
DEMO_SECTIONS = [
    "== Runs",
    "== History context the next run would see",
    "== Session state ==",
    "== Event log",
    "== Inspect it from Python ==",
]
DEMO_EVENTS = ["SessionStarted", "RunStarted", "StepCompleted", "RunCompleted", "SessionRenamed"]


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of a Markdown file."""

    language: str
    code: str
    line: int  # 1-based line of the opening fence


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced blocks of ``text``, in order (fences start at column 0)."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = lines[index]
        fence = opening[: len(opening) - len(opening.lstrip("`"))]
        if len(fence) < 3:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        assert end < len(lines), f"line {index + 1}: unclosed code block"
        body = "".join(f"{line}\n" for line in lines[index + 1 : end])
        blocks.append(CodeBlock(opening[len(fence) :].strip(), body, index + 1))
        index = end + 1
    return blocks


def doc_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# docs/postgres.md talks to the test server, in schema kern_docs.
POSTGRES_DOC = ROOT / "docs" / "postgres.md"
DOC_PARAMS = [
    pytest.param(p, marks=pytest.mark.postgres, id=doc_id(p))
    if p == POSTGRES_DOC
    else pytest.param(p, id=doc_id(p))
    for p in DOC_FILES
]


@pytest.fixture
def doc_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    """For the PostgreSQL page: a server (or a skip), and schema kern_docs dropped after."""
    request.getfixturevalue("postgres_schema")
    drop = sql.SQL("DROP SCHEMA IF EXISTS kern_docs CASCADE")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(drop)
    yield
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(drop)


@pytest.mark.parametrize("path", DOC_PARAMS)
def test_python_blocks_run_in_order(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A file's python blocks run one after the other, sharing their names."""
    if path == POSTGRES_DOC:
        request.getfixturevalue("doc_schema")
    blocks = [b for b in code_blocks(path.read_text(encoding="utf-8")) if b.language == "python"]
    module = types.ModuleType(f"kern_docs_{path.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.chdir(tmp_path)
    opened = _track_stores(monkeypatch)
    try:
        for block in blocks:
            # Leading newlines keep the file's line numbers in tracebacks.
            source = "\n" * block.line + block.code
            exec(compile(source, str(path), "exec"), module.__dict__)
    finally:
        for db in opened:
            db.close()


def _track_stores(monkeypatch: pytest.MonkeyPatch) -> list[KernDb]:
    """Record every store the blocks open, so the test can close them."""
    opened: list[KernDb] = []
    original = KernDb.__init__

    def init(self: KernDb, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(KernDb, "__init__", init)
    return opened


@pytest.mark.parametrize("path", DOC_FILES, ids=doc_id)
def test_every_code_block_names_its_language(path: Path) -> None:
    """A block without ``python`` never runs, so each one says what it is."""
    for block in code_blocks(path.read_text(encoding="utf-8")):
        assert block.language in LANGUAGES, f"{doc_id(path)}:{block.line}: {block.language!r}"


def test_readme_and_docs_have_runnable_examples() -> None:
    """The README's quickstart and every docs page carry python blocks."""
    for path in DOC_FILES:
        languages = [b.language for b in code_blocks(path.read_text(encoding="utf-8"))]
        assert "python" in languages, doc_id(path)


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    """Title, a five-line intro, then the two commands as the first two code blocks."""
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# ") and lines[1] == ""
    intro = lines[2:7]
    assert all(line and not line.startswith(("#", "```", "-")) for line in intro)
    assert lines[7] == ""
    blocks = code_blocks(text)
    assert [(b.language, b.code) for b in blocks[:2]] == [
        ("sh", f"{command}\n") for command in README_COMMANDS
    ]
    between = lines[8 : blocks[0].line - 1]
    assert not any(line.startswith("#") for line in between), "no heading before the commands"


@pytest.mark.slow
def test_kern_demo_runs_as_a_module_and_leaves_a_named_session(tmp_path: Path) -> None:
    """``python -m kern demo`` prints every section and its events, into a real SQLite file."""
    db_file = tmp_path / "demo.db"
    # The source tree first, so the command works whether or not kern is installed.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "kern", "demo", "--db", str(db_file), "--runs", "2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for heading in DEMO_SECTIONS:
        assert heading in result.stdout
    for event_type in DEMO_EVENTS:
        assert event_type in result.stdout
    with SqliteDb(db_file=db_file) as db:
        [session] = db.get_sessions()
        assert session.session_name.startswith("Automated research and analysis pipel - ")
        assert [run.status for run in session.runs or []] == [RunStatus.completed] * 2
        assert session.session_state["runs_counted"] == 2
        assert f'get_session("{session.session_id}")' in result.stdout


def test_each_demo_records_a_new_session_in_the_same_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = str(tmp_path / "demo.db")
    assert main(["demo", "--db", db_file, "--runs", "1"]) == 0
    assert main(["demo", "--db", db_file, "--runs", "1"]) == 0
    assert "holds 2 session(s)" in capsys.readouterr().out
    with SqliteDb(db_file=db_file) as db:
        assert len(db.get_sessions()) == 2


def test_demo_reports_a_store_error_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that cannot be opened: one line on stderr, exit status 1."""
    status = main(["demo", "--db", str(tmp_path / "missing" / "demo.db")])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err.startswith("kern: error: cannot open SQLite database")
    assert captured.err.count("\n") == 1


def test_demo_refuses_a_run_count_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--runs", "0"])
    assert exit_info.value.code == 2
    assert "--runs: must be a whole number >= 1" in capsys.readouterr().err
