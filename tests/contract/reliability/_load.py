"""Load for the reliability tests: where a store lives, what every writer runs, and the checks.

Spawned processes import only Kern and this module: a :class:`Target` names a
store (an SQLite file, or a PostgreSQL table) so each process opens its own
connection to it. Every run of :func:`load_workflow` sets one state key of its
own, ``w<writer>_<n>``, so afterwards each run's state change can be looked for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kern.application.runner.resume import ResumedRun
from kern.db import KernDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.domain.errors import RunAlreadyResumedError
from kern.domain.events import RunCompleted, RunStarted, SessionStarted, StepCompleted
from kern.run import RunStatus
from kern.session import WorkflowSession
from kern.workflow import StepInput, Workflow

JOIN_TIMEOUT = 120  # seconds; only reached when something hangs


@dataclass(frozen=True)
class Target:
    """A store every process can open: ``location`` is the SQLite file or the PostgreSQL URL."""

    kind: str
    location: str
    session_table: str = "kern_sessions"
    db_schema: str = "public"
    application_name: str = "kern"

    def open(self, **options: Any) -> KernDb:
        """A new connection to the store (the caller closes it)."""
        if self.kind == "sqlite":
            return SqliteDb(db_file=self.location, session_table=self.session_table, **options)
        return PostgresDb(
            self.location,
            session_table=self.session_table,
            db_schema=self.db_schema,
            application_name=self.application_name,
            **options,
        )


# -- the workflow every writer runs ---------------------------------------------------------


def state_key(writer: int, n: int) -> str:
    return f"w{writer}_{n}"


def confirm(step_input: StepInput) -> str:
    return f"noted {step_input.previous_step_content}"


STEPS_PER_RUN = 2
MEET_EVERY = 4  # every 4th run of each writer waits for the others' inside its step


def load_workflow(db: KernDb, meet: Any = None) -> Workflow:
    """Two steps; the first sets the run's own state key. With a barrier ``meet``, runs
    0, 4, 8, ... of every writer wait there, so those runs are open at the same time
    even when the scheduler would let one writer run alone."""

    def note(step_input: StepInput) -> str:
        writer, n = step_input.input["writer"], step_input.input["n"]
        step_input.session_state[state_key(writer, n)] = n
        if meet is not None and n % MEET_EVERY == 0:
            meet.wait()
        return state_key(writer, n)

    return Workflow(name="Load", db=db, steps=[note, confirm])


@dataclass
class Tally:
    """What one writer saw: the runs that returned, and every error that reached it."""

    succeeded: list[tuple[str, str]] = field(default_factory=list)  # (session_id, run_id)
    errors: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.succeeded += other.succeeded
        self.errors += other.errors

    def run_ids(self, session_id: str) -> list[str]:
        return [run_id for sid, run_id in self.succeeded if sid == session_id]


def write(
    db: KernDb, writer: int, session_ids: Sequence[str], runs: int, meet: Any = None
) -> Tally:
    """``runs`` rounds of one run in each session (starting at a different session per
    writer); errors are counted, not raised, so one failure does not hide the rest."""
    workflow, tally = load_workflow(db, meet), Tally()
    order = [session_ids[(writer + i) % len(session_ids)] for i in range(len(session_ids))]
    for n in range(runs):
        for session_id in order:
            try:
                result = workflow.run(input={"writer": writer, "n": n}, session_id=session_id)
            except Exception as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                assert result.run_id is not None  # a run that returned has its id
                tally.succeeded.append((session_id, result.run_id))
    return tally


def write_in_process(
    target: Target,
    writer: int,
    session_ids: list[str],
    runs: int,
    meet: Any,
    report: str,
) -> None:
    """A spawned writer: its own connection, then :func:`write` meeting the others at
    ``meet``; what it saw goes to the JSON file ``report``."""
    options = {"pool_size": 1, "max_overflow": 2} if target.kind == "postgres" else {}
    with target.open(**options) as db:
        tally = write(db, writer, session_ids, runs, meet)
    Path(report).write_text(json.dumps({"succeeded": tally.succeeded, "errors": tally.errors}))


def read_report(report: Path) -> Tally:
    data = json.loads(report.read_text())
    return Tally([tuple(pair) for pair in data["succeeded"]], data["errors"])


# -- a process killed in the middle of a step ----------------------------------------------


def draft(step_input: StepInput) -> str:
    step_input.session_state["drafted"] = step_input.input["topic"]
    return f"draft on {step_input.input['topic']}"


def review(step_input: StepInput) -> str:
    return f"reviewed {step_input.previous_step_content}"


def hang(step_input: StepInput) -> str:
    """Say the step has begun (by creating the file named in the input), then wait to be killed."""
    step_input.session_state["hung"] = True
    Path(step_input.input["signal"]).write_text("in step 3")
    time.sleep(JOIN_TIMEOUT)
    return "never"


def run_until_killed(target: Target, session_id: str, run_id: str, signal: str) -> None:
    """Run draft, review, hang in the session; the parent kills this process in hang."""
    db = target.open()
    workflow = Workflow(name="Killed", db=db, steps=[draft, review, hang])
    workflow.run(input={"topic": "tides", "signal": signal}, session_id=session_id, run_id=run_id)


def finish(step_input: StepInput) -> str:
    """The third step as a resumed run runs it: count the call in a file beside
    the hang's signal, then answer."""
    with Path(f"{step_input.input['signal']}.finished").open("a") as calls:
        calls.write("finish\n")
    return f"finished {step_input.previous_step_content}"


def resume_killed(
    target: Target, session_id: str, run_id: str, both_read: Any, report: str
) -> None:
    """A spawned resumer of the run a killed process left: its own connection; it
    waits at ``both_read`` once it has read the run, so every resumer decides on
    the same reading; what happened goes to the JSON file ``report``."""
    read = ResumedRun._read

    def read_then_wait(self: ResumedRun) -> Any:
        run = read(self)
        both_read.wait()
        return run

    ResumedRun._read = read_then_wait  # type: ignore[method-assign]
    with target.open() as db:
        workflow = Workflow(name="Killed", db=db, steps=[draft, review, finish])
        try:
            output = workflow.resume(run_id, session_id=session_id)
            outcome = {"resumed": output.status.value}
        except RunAlreadyResumedError as exc:
            outcome = {"refused": type(exc).__name__}
    Path(report).write_text(json.dumps(outcome))


# -- checks -------------------------------------------------------------------------------------


def check_runs_landed(db: KernDb, session_id: str, run_ids: Sequence[str]) -> WorkflowSession:
    """The session holds exactly the completed runs ``run_ids`` (of the load workflow), each
    once and whole, at contiguous versions, with every run's state key."""
    events = db.get_events(session_id)
    assert [e.version for e in events] == list(range(1, len(events) + 1)), "versions have gaps"
    assert [type(e) for e in events].count(SessionStarted) == 1
    assert isinstance(events[0], SessionStarted)
    assert len(set(run_ids)) == len(run_ids), "a run_id was returned twice"
    by_run: dict[str, list[type]] = {}
    for event in events[1:]:
        by_run.setdefault(event.run_id, []).append(type(event))  # type: ignore[attr-defined]
    assert sorted(by_run) == sorted(run_ids), "the log's runs differ from the runs that returned"
    whole = [RunStarted] + [StepCompleted] * STEPS_PER_RUN + [RunCompleted]
    broken = {run_id: kinds for run_id, kinds in by_run.items() if kinds != whole}
    assert not broken, f"runs not recorded exactly once and whole: {broken}"
    session = db.get_session(session_id)
    assert session is not None and session.runs is not None
    assert sorted((run.run_id for run in session.runs), key=str) == sorted(run_ids)
    assert {run.status for run in session.runs} == {RunStatus.completed}
    inputs = [run.input for run in session.runs]
    assert session.session_state == {state_key(i["writer"], i["n"]): i["n"] for i in inputs}
    return session


def overlapping_runs(db: KernDb, session_id: str) -> int:
    """How many runs started while another run of the session was still open."""
    open_runs: set[str] = set()
    overlapping = 0
    for event in db.get_events(session_id):
        if isinstance(event, RunStarted):
            overlapping += bool(open_runs)
            open_runs.add(event.run_id)
        elif isinstance(event, RunCompleted):
            open_runs.discard(event.run_id)
    return overlapping
