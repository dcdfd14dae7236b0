"""The ``kern`` command line (also ``python -m kern``).

``kern demo [--db PATH] [--runs N]`` runs the demo Research Pipeline N times
into a new session of a local SQLite file, names the session, and prints what
Kern stored: the runs, the history context, the session state and the
session's event log. Errors Kern raises on purpose print as one line on
stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from uuid import uuid4

from kern.adapters.codec import encode_json, event_payload
from kern.adapters.db import KernDb
from kern.adapters.demo import DEMO_NAME, demo_topic, demo_workflow
from kern.adapters.sqlite import SqliteStore
from kern.domain.errors import KernError
from kern.domain.events import (
    RunCompleted,
    RunEvent,
    RunStarted,
    SessionEvent,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepCompleted,
)
from kern.projections.session import WorkflowSession

DEFAULT_DB = "kern-demo.db"
DEFAULT_RUNS = 3
SHORT = 60


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kern`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return demo(args.db, args.runs, sys.stdout)
    except KernError as exc:
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"kern: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kern: interrupted", file=sys.stderr)
        return 130
    return 2  # pragma: no cover - argparse refuses unknown commands first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kern", description="Kern: workflow sessions kept as append-only event logs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo",
        help="run a small workflow into a SQLite session and show what Kern stored",
        description="Run the demo Research Pipeline into a new session and print what "
        "Kern stored: runs, history context, session state and the event log.",
    )
    demo_parser.add_argument(
        "--db", default=DEFAULT_DB, metavar="PATH", help=f"SQLite file (default: {DEFAULT_DB})"
    )
    demo_parser.add_argument(
        "--runs",
        type=_positive,
        default=DEFAULT_RUNS,
        metavar="N",
        help=f"how many runs to record (default: {DEFAULT_RUNS})",
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def demo(db_file: str, runs: int, out: TextIO) -> int:
    """Record ``runs`` runs of the demo workflow in ``db_file`` and print them."""
    db = KernDb(SqliteStore(db_file))
    try:
        workflow = demo_workflow(db)
        session_id = f"demo-session-{uuid4().hex[:8]}"
        for index in range(runs):
            workflow.run(input=demo_topic(index), session_id=session_id)
        workflow.set_session_name(session_id=session_id, autogenerate=True)
        session = db.require_session(session_id)
        report = _Report(out)
        report.intro(db_file, session, runs, len(db.get_sessions()))
        report.runs(session)
        report.history(session, workflow.num_history_runs)
        report.state(session)
        report.events(db.get_events(session_id))
        report.inspect(db_file, session_id)
    finally:
        db.close()
    return 0


class _Report:
    """Prints the demo's sections."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def section(self, title: str) -> None:
        self.line()
        self.line(f"== {title} ==")

    def intro(self, db_file: str, session: WorkflowSession, runs: int, total: int) -> None:
        self.line(f"Kern demo: {runs} run(s) of the {DEMO_NAME!r} workflow")
        self.line(f"  database:     {db_file} (SQLite; holds {total} session(s))")
        self.line(f"  session_id:   {session.session_id} (a new session on every invocation)")
        self.line(f"  session_name: {session.session_name} (set_session_name(autogenerate=True))")

    def runs(self, session: WorkflowSession) -> None:
        self.section("Runs (read back from the database)")
        for number, run in enumerate(session.runs or [], 1):
            duration = run.metrics.duration if run.metrics and run.metrics.duration else 0.0
            self.line(f"[{number}] run_id:   {run.run_id}")
            self.line(f"    status:   {run.status.value}")
            self.line(f"    input:    {run.input}")
            self.line(f"    content:  {run.content}")
            self.line(f"    steps:    {len(run.step_results)} ({_step_names(run.step_results)})")
            self.line(f"    duration: {duration * 1000:.2f} ms")

    def history(self, session: WorkflowSession, window: int) -> None:
        self.section(f"History context the next run would see (last {window} COMPLETED runs)")
        context = session.get_workflow_history_context(num_runs=window)
        self.line(
            "The summarize step gets this text before its message (see its StepCompleted input)."
        )
        self.out.write(context or "(none)\n")

    def state(self, session: WorkflowSession) -> None:
        self.section("Session state")
        self.line(json.dumps(session.session_state, indent=2, ensure_ascii=False))

    def events(self, events: Sequence[SessionEvent]) -> None:
        self.section(f"Event log ({len(events)} events, append-only)")
        self.line(f"{'version':>7}  {'timestamp (UTC)':<26}  {'event':<19}  {'run_id':<8}  payload")
        for event in events:
            run_id = event.run_id[:8] if isinstance(event, RunEvent) else "-"
            stamp = event.timestamp.isoformat(timespec="microseconds").removesuffix("+00:00")
            name = type(event).__name__
            self.line(
                f"{event.version:>7}  {stamp:<26}  {name:<19}  {run_id:<8}  {_summary(event)}"
            )
        example = next((e for e in reversed(events) if isinstance(e, RunCompleted)), events[-1])
        self.line()
        self.line(f"Stored row of version {example.version}: topic {example.topic()!r}, state:")
        self.line(encode_json(event_payload(example)).decode("utf-8"))

    def inspect(self, db_file: str, session_id: str) -> None:
        self.section("Inspect it from Python")
        self.line("from kern.db.sqlite import SqliteDb")
        db_file, session_id = json.dumps(db_file), json.dumps(session_id)
        self.line(f"session = SqliteDb(db_file={db_file}).get_session({session_id})")
        self.line("print(session.session_name, [run.content for run in session.runs])")


def _step_names(steps: Sequence[Any]) -> str:
    return ", ".join(str(step.step_name) for step in steps)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= SHORT else text[: SHORT - 3] + "..."


def _summary(event: SessionEvent) -> str:
    """A one-line digest of what the event carries."""
    if isinstance(event, SessionStarted):
        return (
            f"workflow={event.workflow_id} user={event.user_id} state={_short(event.session_state)}"
        )
    if isinstance(event, RunStarted):
        return f"input={_short(event.input.value)}"
    if isinstance(event, StepCompleted):
        outcome = "ok" if event.success else f"error={_short(event.error)}"
        changes = f" state_set={_short(event.state_changes.set)}" if event.state_changes else ""
        return (
            f"{event.step_name} ({event.executor_type}, index {event.step_index}) {outcome} "
            f"content={_short(event.content.value)}{changes}"
        )
    if isinstance(event, RunCompleted):
        return f"status={event.status.value} state_set={_short(event.state_changes.set)}"
    if isinstance(event, SessionRenamed):
        return f"session_name={_short(event.session_name)} autogenerated={event.autogenerated}"
    if isinstance(event, SessionStateUpdated):
        return f"set={_short(event.changes.set)} removed={event.changes.removed}"
    return ""
