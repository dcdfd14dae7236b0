"""A session as it stood at a version, a moment or the start of a run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kern.domain.events import RunStarted
from kern.errors import InvalidAsOfError
from kern.run import RunStatus
from kern.session import WorkflowSession
from tests.contract.timetravel.conftest import OWNER, SESSION, T0, History, Snapshot


def assert_shows(session: WorkflowSession | None, seen: Snapshot) -> None:
    """``session`` reads exactly as the live session did in ``seen``."""
    assert session is not None, seen.action
    assert session.version == seen.version
    assert [run.to_dict() for run in session.runs or []] == seen.runs
    assert session.get_workflow_history_context() == seen.history_context
    assert session.get_chat_history() == seen.chat_history
    assert session.session_state == seen.session_state
    assert session.session_name == seen.session_name
    assert session.to_dict() == seen.session.to_dict()


# -- resolving ------------------------------------------------------------------------------


def test_resolves_a_version_to_itself(history: History) -> None:
    last = history.snapshots[-1].version
    assert [history.db.resolve_as_of(SESSION, v) for v in (1, 7, last)] == [1, 7, last]


@pytest.mark.parametrize("version", [0, -1, 17, 1000])
def test_rejects_a_version_outside_the_stream(history: History, version: int) -> None:
    with pytest.raises(InvalidAsOfError, match=str(version)):
        history.db.resolve_as_of(SESSION, version)


@pytest.mark.parametrize("as_of", [True, 2.0, None, ["v1"], b"run"])
def test_rejects_an_as_of_of_another_type(history: History, as_of: Any) -> None:
    with pytest.raises(InvalidAsOfError, match="as_of must be"):
        history.db.resolve_as_of(SESSION, as_of)


def test_resolves_a_moment_to_the_last_event_at_or_before_it(history: History) -> None:
    db = history.db
    for n, seen in enumerate(history.snapshots):
        assert db.resolve_as_of(SESSION, history.minute(n)) == seen.version
        halfway = history.minute(n) + timedelta(seconds=30)
        assert db.resolve_as_of(SESSION, halfway) == seen.version
    assert db.resolve_as_of(SESSION, datetime(2999, 1, 1)) == history.snapshots[-1].version


def test_takes_a_naive_datetime_as_utc(history: History) -> None:
    naive = datetime(2024, 5, 1, 9, 2, 30)
    assert history.db.resolve_as_of(SESSION, naive) == history.snapshots[2].version


def test_compares_an_aware_datetime_as_the_same_instant(history: History) -> None:
    paris = timezone(timedelta(hours=2))
    moment = datetime(2024, 5, 1, 11, 3, 10, tzinfo=paris)  # 09:03:10 UTC
    assert history.db.resolve_as_of(SESSION, moment) == history.snapshots[3].version


def test_rejects_a_moment_before_the_first_event(history: History) -> None:
    with pytest.raises(InvalidAsOfError, match="no event at or before 2024-05-01T08:59:59Z"):
        history.db.resolve_as_of(SESSION, T0 - timedelta(seconds=1))


def test_resolves_a_run_id_to_its_run_started(history: History) -> None:
    db = history.db
    for run in history.runs:
        assert run.run_id is not None
        version = db.resolve_as_of(SESSION, run.run_id)
        started = db.get_events(SESSION)[version - 1]
        assert isinstance(started, RunStarted)
        assert started.run_id == run.run_id
        assert db.get_log(SESSION)[version - 1].event_type == "RunStarted"


def test_rejects_an_unknown_run_id(history: History) -> None:
    with pytest.raises(InvalidAsOfError, match="no run 'not-a-run'"):
        history.db.resolve_as_of(SESSION, "not-a-run")


def test_rejects_any_as_of_on_an_unknown_session(history: History) -> None:
    with pytest.raises(InvalidAsOfError):
        history.db.resolve_as_of("nobody", 1)
    with pytest.raises(InvalidAsOfError):
        history.db.resolve_as_of("nobody", datetime(2999, 1, 1))


# -- the session as of then ------------------------------------------------------------------


def test_as_of_each_version_shows_what_was_seen_then(history: History) -> None:
    for seen in history.snapshots:
        assert_shows(history.db.get_session(SESSION, as_of=seen.version), seen)


def test_as_of_each_moment_shows_what_was_seen_then(history: History) -> None:
    for n, seen in enumerate(history.snapshots):
        moment = history.minute(n) + timedelta(seconds=59)
        assert_shows(history.db.get_session(SESSION, as_of=moment), seen)


def test_as_of_a_version_inside_a_run_shows_it_running_with_its_steps_so_far(
    history: History,
) -> None:
    beta = history.runs[1]
    assert beta.run_id is not None
    started = history.db.resolve_as_of(SESSION, beta.run_id)
    session = history.db.get_session(SESSION, as_of=started + 1)
    assert session is not None
    run = session.get_run(beta.run_id)
    assert run is not None
    assert run.status == RunStatus.running
    assert [step.content for step in run.step_results] == ["tally 2: beta"]
    assert session.session_state == history.snapshots[1].session_state


def test_as_of_a_run_shows_the_moment_it_started(history: History) -> None:
    db, gamma = history.db, history.runs[2]
    assert gamma.run_id is not None
    session = db.get_session(SESSION, as_of=gamma.run_id)
    assert session is not None
    run = session.get_run(gamma.run_id)
    assert run is not None
    assert run.status == RunStatus.running
    assert run.step_results == []
    assert run.input == "gamma"
    assert run.content is None
    assert run.session_state == history.snapshots[3].session_state
    assert [r.run_id for r in session.runs or []] == [r.run_id for r in history.runs]
    assert session.get_workflow_history_context() == history.snapshots[3].history_context
    assert session.session_state == history.snapshots[3].session_state
    assert session.session_name == "First name"


def test_as_of_now_is_the_live_session(history: History) -> None:
    live = history.db.get_session(SESSION)
    assert live is not None
    assert_shows(history.db.get_session(SESSION, as_of=datetime(2999, 1, 1)), history.snapshots[-1])
    assert_shows(live, history.snapshots[-1])


def test_deleted_session_is_readable_as_of_before_its_tombstone(history: History) -> None:
    db = history.db
    db.delete_session(SESSION)
    tombstone = history.snapshots[-1].version + 1
    assert db.get_session(SESSION) is None
    assert db.get_session(SESSION, as_of=tombstone) is None
    assert_shows(db.get_session(SESSION, as_of=tombstone - 1), history.snapshots[-1])
    assert_shows(db.get_session(SESSION, as_of=history.minute(3)), history.snapshots[3])


def test_as_of_is_scoped_to_the_owner(history: History) -> None:
    db, seen = history.db, history.snapshots[2]
    assert db.get_session(SESSION, user_id="mallory", as_of=seen.version) is None
    assert db.get_session(SESSION, user_id="mallory", as_of=history.minute(2)) is None
    assert db.get_session(SESSION, user_id="mallory", as_of=history.runs[0].run_id) is None
    assert_shows(db.get_session(SESSION, user_id=OWNER, as_of=seen.version), seen)


def test_as_of_on_an_unknown_session_is_none(history: History) -> None:
    assert history.db.get_session("nobody", as_of=1) is None
    assert history.db.get_session("nobody", as_of="some-run") is None


def test_as_of_that_names_no_point_raises(history: History) -> None:
    with pytest.raises(InvalidAsOfError):
        history.db.get_session(SESSION, as_of=99)
    with pytest.raises(InvalidAsOfError):
        history.db.get_session(SESSION, as_of=T0 - timedelta(days=1))


def test_workflow_reads_its_session_as_of(history: History) -> None:
    workflow, seen = history.workflow, history.snapshots[1]
    workflow.session_id = SESSION
    assert_shows(workflow.get_session(as_of=seen.version), seen)
    assert_shows(workflow.get_session(SESSION, as_of=history.minute(1)), seen)
    assert workflow.get_session(SESSION, user_id="mallory", as_of=seen.version) is None
