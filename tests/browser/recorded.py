"""The sessions the browser tests look at, recorded into a SQLite file.

- ``demo``: five runs of ``kern demo``'s Research Pipeline (no user), 27 events;
  the fourth repeats the first topic, so the two differ only where history counts.
- ``flaky``: alice's session named with a ``<script>`` tag, whose second run
  fails in its first step.
- ``bobs``: one run by bob, which alice must never see.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from kern.adapters.cli.demo_workflow import demo_topic, demo_workflow
from kern.application.runner.steps import StepInput
from kern.db.sqlite import SqliteDb
from kern.workflow import HumanReview, Step, Workflow

DEMO = "demo-session"
FLAKY = "flaky-session"
BOBS = "bobs-session"
SCRIPT_NAME = "<script>window.kernInjected = 1</script> flaky source"
SCRIPT_INPUT = '<img src=x onerror="window.kernInjected = 2"> topic'
DEMO_RUNS = 5


@dataclass(frozen=True)
class Recorded:
    """What was recorded: the db file and each session's run ids, in order."""

    db_file: Path
    demo_runs: list[str]
    flaky_runs: list[str]


def fetch(step_input: StepInput) -> str:
    """Fails on its second call in a session (the session state counts calls)."""
    state = step_input.session_state
    state["fetches"] = int(state.get("fetches", 0)) + 1
    if state["fetches"] > 1:
        raise RuntimeError("the source is down")
    return f"fetched {step_input.input}"


def echo(step_input: StepInput) -> str:
    """Hands on what the step before it returned."""
    return f"echo: {step_input.previous_step_content}"


def record(db_file: Path) -> Recorded:
    """Record the three sessions into ``db_file`` (a new SQLite file)."""
    db = SqliteDb(db_file=str(db_file))
    try:
        demo = demo_workflow(db)
        for index in range(DEMO_RUNS):
            demo.run(input=demo_topic(index % 3), session_id=DEMO)
        demo.set_session_name(session_id=DEMO, autogenerate=True)

        ends_the_run = HumanReview(on_error="fail")  # one attempt, then the run is ERROR
        fetching = Step(name="fetch", executor=fetch, max_retries=0, human_review=ends_the_run)
        flaky = Workflow(name="Flaky Source", db=db, steps=[fetching, echo])
        flaky.run(input=SCRIPT_INPUT, session_id=FLAKY, user_id="alice")
        with suppress(RuntimeError):  # the run is recorded as ERROR, then raises
            flaky.run(input="again", session_id=FLAKY, user_id="alice")
        flaky.set_session_name(session_id=FLAKY, session_name=SCRIPT_NAME, user_id="alice")

        bob = Workflow(name="Flaky Source", db=db, steps=[echo])
        bob.run(input="bob's topic", session_id=BOBS, user_id="bob")
        return Recorded(
            db_file=db_file,
            demo_runs=[str(run.run_id) for run in db.require_session(DEMO).runs or []],
            flaky_runs=[str(run.run_id) for run in db.require_session(FLAKY).runs or []],
        )
    finally:
        db.close()
