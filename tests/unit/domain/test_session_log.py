"""The rules a log from outside must meet to be a Kern session log."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kern.db.in_memory import InMemoryDb
from kern.domain.events import RunCompleted, RunResumed, SessionDeleted, SessionEvent
from kern.domain.session_log import LogProblem, log_problem
from kern.workflow import Workflow
from tests.conftest import echo, shout


def a_log(user_id: str | None = "alice") -> list[SessionEvent]:
    db = InMemoryDb()
    Workflow(db=db, steps=[echo, shout], user_id=user_id).run(input="hi", session_id="s")
    db.rename_session("s", "named")
    return db.get_events("s")


def test_every_log_kern_writes_meets_the_rules() -> None:
    assert log_problem(a_log()) is None
    assert log_problem(a_log(user_id=None)) is None


def test_an_empty_log_is_not_a_session() -> None:
    assert log_problem([]) == LogProblem(1, "the log has no events")


def test_unscoped_writes_keep_the_owner() -> None:
    """Events with user_id None are what an unscoped caller writes to anyone's session."""
    log = a_log()
    log[-1] = replace(log[-1], user_id=None)
    assert log_problem(log) is None


def test_an_unowned_session_takes_no_users_events() -> None:
    log = a_log(user_id=None)
    log[2] = replace(log[2], user_id="bob")
    assert log_problem(log) == LogProblem(3, "user_id 'bob' is not the session owner's (None)")


def test_nothing_follows_the_tombstone() -> None:
    log = a_log()
    last = log[-1]
    tombstone = SessionDeleted(session_id="s", version=last.version + 1, timestamp=last.timestamp)
    after = replace(last, version=last.version + 2)
    assert log_problem([*log, tombstone]) is None
    assert log_problem([*log, tombstone, after]) == LogProblem(
        after.version, "SessionRenamed after the session was deleted"
    )


def test_timestamps_never_go_back() -> None:
    log = a_log()
    log[3] = replace(log[3], timestamp=log[2].timestamp - timedelta(seconds=1))
    assert log_problem(log) == LogProblem(4, "the timestamp goes back before the previous event's")


def test_a_run_resumes_only_while_it_is_open() -> None:
    """RunResumed of a run never started, or of one that ended, is no Kern log."""
    log = a_log()
    last = log[-1]
    resumed = RunResumed(
        session_id="s",
        version=last.version + 1,
        timestamp=last.timestamp,
        run_id="r9",
        step_index=0,
    )
    assert log_problem([*log, resumed]) == LogProblem(resumed.version, "run 'r9' was never started")
    (ended,) = [e for e in log if isinstance(e, RunCompleted)]
    again = replace(resumed, run_id=ended.run_id, step_index=2)
    assert log_problem([*log, again]) == LogProblem(
        again.version, f"run {ended.run_id!r} had already finished"
    )
