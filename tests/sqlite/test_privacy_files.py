"""The SQLite file and its WAL never hold a keyed user's values, and an erased
key leaves no copy in either."""

from __future__ import annotations

from pathlib import Path

from kern.crypto import LocalKeyring
from kern.db.sqlite import SqliteDb
from kern.workflow import StepInput, Workflow

MARKER = "QUAGGA-5511"
MASTER = LocalKeyring(bytes(range(32)))


def step(step_input: StepInput) -> str:
    step_input.session_state["seen"] = f"{step_input.input} (state)"
    return f"answer to {step_input.input}"


def raw(db_file: Path) -> bytes:
    """The database file and its WAL, byte for byte."""
    parts = [db_file, db_file.with_name(db_file.name + "-wal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def test_the_file_and_its_wal_never_hold_the_values_and_keep_no_erased_key(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "kern.db"
    db = SqliteDb(db_file, keyring=MASTER)
    workflow = Workflow(name="W", db=db, steps=[step])
    for index in range(3):
        workflow.run(input=f"question {index} {MARKER}", session_id="s1", user_id="alice")
        assert MARKER.encode() not in raw(db_file)  # at every point, WAL included
    db.update_session_state("s1", {"extra": MARKER}, "alice")
    assert MARKER.encode() not in raw(db_file)
    key = db.store.get_key(session_id="s1")
    assert key is not None and key.wrapped in raw(db_file)
    db.erase_user("alice", reason="request 7")
    db.close()
    after = raw(db_file)
    assert key.wrapped not in after  # secure_delete zeroed it; the WAL was emptied
    assert MARKER.encode() not in after
    with SqliteDb(db_file, keyring=MASTER) as again:
        session = again.get_session("s1")
        assert session is not None and (session.runs or [])[0].content == "[erased]"
        assert again.verify().ok
