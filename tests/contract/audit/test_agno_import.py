"""Importing Agno's workflow sessions: on every store, Kern reads them as Agno did,
at Agno's times and with their owners, once, and whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kern.crypto import LocalKeyring
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.sqlite import SqliteDb
from kern.domain.events import (
    RunCompleted,
    RunStarted,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepCompleted,
)
from kern.errors import UserRequiredError
from kern.importing import import_agno
from kern.workflow import Workflow
from tests.conftest import echo
from tests.fixtures.agno.agno_sessions import AGNO_DB, OWNERS, assert_reads_as_agno, recorded

AGNO = str(AGNO_DB)
SESSIONS = sorted(recorded())


def moment(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


# -- what the import records ------------------------------------------------------------


def test_imported_sessions_read_as_agno_reads_them(db: KernDb) -> None:
    """History context byte for byte, history, chat history, runs, names, state."""
    report = import_agno(AGNO, db)
    assert sorted(report.imported) == SESSIONS
    assert (report.skipped, report.differing, report.refused) == ([], [], [])
    assert report.ok
    for session_id, agno in recorded().items():
        assert_reads_as_agno(db, session_id, agno)


def test_sessions_of_agents_are_left_out(db: KernDb) -> None:
    """The fixture's sessions table also holds an agent session: not a workflow's."""
    report = import_agno(AGNO, db)
    assert "an-agent-session" not in report.imported + report.skipped
    assert db.get_events("an-agent-session") == []


def test_each_session_is_logged_as_kern_would_have_recorded_it(db: KernDb) -> None:
    """SessionStarted, a RunStarted, StepCompleted per step and RunCompleted per run,
    then the name and the state."""
    import_agno(AGNO, db)
    kinds = [type(event) for event in db.get_events("alice-research")]
    run = [RunStarted, StepCompleted, StepCompleted, StepCompleted, RunCompleted]
    assert kinds == [SessionStarted, *run, *run, *run, SessionRenamed, SessionStateUpdated]
    assert [type(event) for event in db.get_events("shapes-anonymous")] == [
        SessionStarted,
        *[RunStarted, StepCompleted, RunCompleted] * 2,
    ]


def test_imported_events_keep_agnos_times(db: KernDb) -> None:
    """The session starts at Agno's created_at, each run at its created_at, and the
    name and state are recorded at the session's updated_at."""
    import_agno(AGNO, db)
    for session_id, agno in recorded().items():
        events = db.get_events(session_id)
        assert events[0].timestamp == moment(agno["created_at"])
        starts = [e.timestamp for e in events if isinstance(e, RunStarted)]
        assert starts == [moment(run["created_at"]) for run in agno["runs"]]
        times = [e.timestamp for e in events]
        assert times == sorted(times)
        assert int(times[-1].timestamp()) == agno["updated_at"]
        assert times[-1] < datetime.now(UTC)


def test_every_imported_event_says_so_in_its_provenance(db: KernDb) -> None:
    import_agno(AGNO, db)
    for session_id in SESSIONS:
        for event in db.get_events(session_id):
            assert event.provenance.imported_from == "agno:agno_sessions"
            assert event.provenance.kern_version is not None


def test_the_workflow_name_comes_from_agnos_workflow_data(db: KernDb) -> None:
    """Agno's session reads workflow_name as None (it keeps it in workflow_data only)."""
    import_agno(AGNO, db)
    session = db.get_session("alice-research")
    assert session is not None
    assert recorded()["alice-research"]["workflow_name"] is None
    assert session.workflow_name == "Research Pipeline"
    assert session.workflow_data is not None
    assert session.workflow_data["name"] == "Research Pipeline"


def test_imported_sessions_keep_their_owners(db: KernDb) -> None:
    """Another user's imported session reads as one that does not exist."""
    import_agno(AGNO, db)
    for session_id, owner in OWNERS.items():
        assert db.get_session(session_id, user_id="mallory") is None
        session = db.get_session(session_id, user_id=owner)
        assert session is not None and session.user_id == owner
    alice = {s.session_id for s in db.get_sessions(user_id="alice")}
    assert alice == {"alice-research", "alice-second"}
    anonymous = db.get_session("shapes-anonymous")
    assert anonymous is not None and anonymous.user_id is None


def test_imported_logs_verify(db: KernDb) -> None:
    import_agno(AGNO, db)
    report = db.verify()
    assert report.ok
    assert sorted(s.session_id for s in report.sessions) == SESSIONS


# -- again, and again after a crash ---------------------------------------------------------


def test_a_second_import_writes_nothing(db: KernDb) -> None:
    import_agno(AGNO, db)
    before = {sid: db.get_events(sid) for sid in SESSIONS}
    again = import_agno(AGNO, db)
    assert (again.imported, again.events, again.ok) == ([], 0, True)
    assert sorted(again.skipped) == SESSIONS
    assert {sid: db.get_events(sid) for sid in SESSIONS} == before


def test_a_session_continued_in_kern_counts_as_imported(db: KernDb) -> None:
    import_agno(AGNO, db)
    Workflow(name="Notes", db=db, steps=[echo]).run("more", session_id="bob-notes", user_id="bob")
    again = import_agno(AGNO, db)
    assert "bob-notes" in again.skipped and again.ok
    session = db.get_session("bob-notes", user_id="bob")
    assert session is not None and session.runs is not None and len(session.runs) == 4


def test_a_session_stored_otherwise_is_reported_and_left_alone(db: KernDb) -> None:
    Workflow(name="Mine", db=db, steps=[echo]).run("mine", session_id="bob-notes", user_id="bob")
    before = db.get_events("bob-notes")
    report = import_agno(AGNO, db)
    assert [problem.session_id for problem in report.differing] == ["bob-notes"]
    assert "already in Kern with other events" in report.differing[0].problem
    assert not report.ok
    assert sorted(report.imported) == [sid for sid in SESSIONS if sid != "bob-notes"]
    assert db.get_events("bob-notes") == before


def test_an_import_cut_short_keeps_whole_sessions_and_a_rerun_finishes_it(
    db: KernDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops as the third session is written: the first two are
    there whole, the others not at all; the next import adds just those."""
    append = db.store.append
    calls: list[int] = []

    def dropping(events: Any) -> None:
        calls.append(len(events))
        if len(calls) == 3:
            raise ConnectionError("the connection dropped")
        append(events)

    monkeypatch.setattr(db.store, "append", dropping)
    with pytest.raises(ConnectionError):
        import_agno(AGNO, db)
    monkeypatch.setattr(db.store, "append", append)
    done = ["alice-research", "alice-second"]  # the oldest first
    for session_id in SESSIONS:
        assert bool(db.get_events(session_id)) == (session_id in done), session_id
    for session_id in done:
        assert_reads_as_agno(db, session_id, recorded()[session_id])
    rest = import_agno(AGNO, db)
    assert sorted(rest.skipped) == done
    assert sorted(rest.imported) == ["bob-notes", "carol-writers", "shapes-anonymous"]
    for session_id, agno in recorded().items():
        assert_reads_as_agno(db, session_id, agno)


# -- stores that need more ----------------------------------------------------------------------


def test_a_strict_users_store_refuses_the_import() -> None:
    """An admin operation: the sessions keep the owners Agno names."""
    db = InMemoryDb(strict_users=True)
    with pytest.raises(UserRequiredError, match="import_agno"):
        import_agno(AGNO, db)
    assert db.get_sessions(user_id="alice") == []


def test_an_encrypted_store_seals_what_it_imports(tmp_path: Path) -> None:
    """Steps' contents, inputs, names and state are stored sealed, as when recorded."""
    keyring = LocalKeyring(bytes(range(32)))
    with SqliteDb(tmp_path / "kern.db", keyring=keyring) as db:
        import_agno(AGNO, db)
        stored = b"".join(record.state for record in db.store.read_records("alice-research"))
        for text in ("fusion energy", "AI Trends Analysis", "last_topic", "report: outline"):
            assert text.encode() not in stored, text
        assert_reads_as_agno(db, "alice-research", recorded()["alice-research"])
