"""``kern demo``: run the demo Research Pipeline into a new session and print
what Kern stored, ending with a trip back in time and a verify of the log.

It records into a SQLite file (created if missing) or, given a
``postgresql://`` URL, into PostgreSQL (``--schema``, ``--table``)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import quote
from uuid import uuid4

from kern.adapters.cli.demo_workflow import DEMO_NAME, demo_topic, demo_workflow
from kern.adapters.cli.output import timestamp
from kern.adapters.cli.sessions import event_summary
from kern.adapters.cli.targets import DEFAULT_SCHEMA, describe, is_postgres, open_db
from kern.application.sessions import KernDb
from kern.domain.events import RunCompleted
from kern.domain.records import encode_record
from kern.projections.log import LogEntry
from kern.projections.session import WorkflowSession

DEFAULT_DB = "kern-demo.db"
DEFAULT_RUNS = 3


def demo(
    db_file: str,
    runs: int,
    out: TextIO,
    *,
    schema: str | None = None,
    table: str | None = None,
) -> int:
    """Record ``runs`` runs of the demo workflow in ``db_file`` (a SQLite path or a
    PostgreSQL URL, with ``schema`` and ``table``) and print them."""
    db = open_db(db_file, schema=schema, table=table, create=True)
    where = _Where(db_file, schema, table)
    try:
        workflow = demo_workflow(db)
        session_id = f"demo-session-{uuid4().hex[:8]}"
        for index in range(runs):
            workflow.run(input=demo_topic(index), session_id=session_id)
        workflow.set_session_name(session_id=session_id, autogenerate=True)
        session = db.require_session(session_id)
        report = _Report(out, where)
        report.intro(session, runs, len(db.get_sessions()))
        report.runs(session)
        report.history(session, workflow.num_history_runs)
        report.state(session)
        report.events(db.get_log(session_id))
        report.inspect(session_id)
        report.time_travel(db, session)
        report.verify(db, session_id)
        report.browser(session_id)
    finally:
        db.close()
    return 0


class _Where:
    """The database the demo wrote to, as the report names it (never a password)."""

    def __init__(self, target: str, schema: str | None, table: str | None) -> None:
        self.postgres = is_postgres(target)
        self.shown = describe(target)
        self.schema = schema or DEFAULT_SCHEMA
        self.table = table

    def label(self) -> str:
        """The database, for the intro."""
        if self.postgres:
            return f"{self.shown} (PostgreSQL, schema {self.schema})"
        return f"{self.shown} (SQLite)"

    def kern(self, command: str) -> str:
        """``command`` as a ``kern`` command line on this database."""
        options = f"--db {shlex.quote(self.shown)}"
        if self.postgres and self.schema != DEFAULT_SCHEMA:
            options += f" --schema {shlex.quote(self.schema)}"
        if self.table:
            options += f" --table {shlex.quote(self.table)}"
        return f"kern {options} {command}"

    def python(self) -> tuple[str, str]:
        """The import and the constructor call that open this database in Python."""
        table = f", session_table={json.dumps(self.table)}" if self.table else ""
        if self.postgres:
            schema = f", db_schema={json.dumps(self.schema)}"
            return (
                "from kern.db.postgres import PostgresDb",
                f"PostgresDb({json.dumps(self.shown)}{schema}{table})",
            )
        return (
            "from kern.db.sqlite import SqliteDb",
            f"SqliteDb(db_file={json.dumps(self.shown)}{table})",
        )


class _Report:
    """Prints the demo's sections."""

    def __init__(self, out: TextIO, where: _Where) -> None:
        self.out = out
        self.where = where

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def section(self, title: str) -> None:
        self.line()
        self.line(f"== {title} ==")

    def intro(self, session: WorkflowSession, runs: int, total: int) -> None:
        self.line(f"Kern demo: {runs} run(s) of the {DEMO_NAME!r} workflow")
        self.line(f"  database:     {self.where.label()}; holds {total} session(s)")
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

    def events(self, log: Sequence[LogEntry]) -> None:
        self.section(f"Event log ({len(log)} events, append-only, each hash chained to the last)")
        self.line(f"{'version':>7}  {'timestamp (UTC)':<27}  {'event':<19}  {'run_id':<8}  payload")
        for entry in log:
            run_id = entry.run_id[:8] if entry.run_id else "-"
            stamp = timestamp(entry.timestamp)
            summary = event_summary(entry.event, entry.payload)
            self.line(
                f"{entry.version:>7}  {stamp:<27}  {entry.event_type:<19}  {run_id:<8}  {summary}"
            )
        events = [entry.event for entry in log]
        example = next((e for e in reversed(events) if isinstance(e, RunCompleted)), events[-1])
        self.line()
        self.line(f"Stored row of version {example.version}: topic {example.topic()!r}, state:")
        self.line(encode_record(example).state.decode("utf-8"))

    def inspect(self, session_id: str) -> None:
        self.section("Inspect it from Python")
        imported, opened = self.where.python()
        self.line(imported)
        self.line(f"session = {opened}.get_session({json.dumps(session_id)})")
        self.line("print(session.session_name, [run.content for run in session.runs])")
        self.line()
        self.line("or with the kern command:")
        self.line(self.where.kern("sessions"))
        self.line(self.where.kern(f"events {session_id}"))
        self.line(self.where.kern("verify"))

    def time_travel(self, db: KernDb, session: WorkflowSession) -> None:
        runs = session.runs or []
        number = min(2, len(runs))
        run_id = str(runs[number - 1].run_id)
        version = db.resolve_as_of(session.session_id, run_id)
        then = db.get_session(session.session_id, as_of=run_id)
        assert then is not None
        self.section(f"Time travel: the session as of run {number}'s start (version {version})")
        self.line(f"db.get_session({session.session_id!r}, as_of={run_id!r})")
        for index, run in enumerate(then.runs or [], 1):
            self.line(f"  run {index}: {run.status.value:<9} input={run.input!r}")
        self.line(f"  session_state: {json.dumps(then.session_state, ensure_ascii=False)}")
        view = db.get_step_view(session.session_id, run_id, "summarize")
        self.line()
        self.line(
            f"What the summarize step of run {number} saw (recorded at version {view.version})"
        )
        self.line(f"db.get_step_view({session.session_id!r}, {run_id!r}, 'summarize').input:")
        self.out.write(_indented(str(view.input)))
        self.line(f"  it returned: {view.content!r}")
        self.line(f"  it started from session_state: {json.dumps(view.session_state)}")
        shell = self.where.kern(f"step {session.session_id} {run_id} summarize")
        self.line(f"  the same from the shell: {shell}")

    def verify(self, db: KernDb, session_id: str) -> None:
        self.section("Verify: recompute every hash of the session from the stored bytes")
        self.line(f"db.verify({session_id!r})")
        [checked] = db.verify(session_id).sessions
        if checked.ok:
            self.line(f"  ok: {checked.events} events, the hash chain is intact")
        else:
            self.line(f"  FAILED at version {checked.first_bad_version}: {checked.problem}")
        self.line(f"  the same from the shell: {self.where.kern(f'verify {session_id}')}")

    def browser(self, session_id: str) -> None:
        self.section("See it in the browser: runs, a version scrubber, each step, diffs")
        self.line(self.where.kern("serve --admin"))
        self.line(f"then open http://127.0.0.1:8000/#/sessions/{quote(session_id)}")
        self.line("(kern serve needs the web extra: pip install 'kern[web]')")


def _step_names(steps: Sequence[Any]) -> str:
    return ", ".join(str(step.step_name) for step in steps)


def _indented(text: str) -> str:
    return "".join(f"  | {line}\n" for line in text.splitlines())
