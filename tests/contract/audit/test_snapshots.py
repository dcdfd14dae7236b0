"""Snapshots are derived data: a new db object starts from one and the events after
it, and one that does not match the log (corrupt bytes, another format, ahead of
the log, another hash) is ignored, dropped and written anew, never trusted.
Verify reads only the log.

Snapshots are written every few events here (SNAPSHOT_EVERY is lowered), so a
session of six two-step runs (versions 1-25) has one at version 25.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from hashlib import sha256
from typing import Any

import pytest

from kern.adapters.stores import recorder
from kern.crypto import ERASED
from kern.db import KernDb
from kern.errors import RunAlreadyStartedError, StoreError
from kern.projections import snapshots
from kern.projections.snapshots import SnapshotRow
from kern.workflow import Workflow
from tests.conftest import echo, shout
from tests.contract.audit.conftest import Tampering
from tests.contract.kinds import STORED_BYTES, THREADED

RUNS = 6
HEAD = 1 + 4 * RUNS


@pytest.fixture(autouse=True)
def often(monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot at the first run boundary at least 8 events after the last one."""
    monkeypatch.setattr(recorder, "SNAPSHOT_EVERY", 8)


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Session s1: six runs, run-1 ... run-6, with two runs of history each."""
    workflow = make_workflow(num_history_runs=2)
    for n in range(1, RUNS + 1):
        workflow.run(input=f"topic {n}", session_id="s1", run_id=f"run-{n}")
    return workflow


def store_of(db: KernDb) -> Any:
    return db.store


def cold(tampering: Tampering) -> KernDb:
    """A new db object over the same database, nothing cached."""
    fresh = tampering.fresh()
    store_of(fresh).cache.clear()
    return fresh


def run_on(db: KernDb, run_id: str | None = None) -> Any:
    return Workflow(name="Test Pipeline", db=db, steps=[echo, shout], num_history_runs=2).run(
        input="next", session_id="s1", run_id=run_id
    )


def forge(row: SnapshotRow, **said: Any) -> SnapshotRow:
    """``row`` with its body saying ``said`` and a checksum that matches it."""
    body = json.loads(row.body) | said
    data = json.dumps(body).encode()
    return replace(
        row,
        version=body["version"],
        head_hash=body["hash"],
        checksum=sha256(data).hexdigest(),
        body=data,
    )


def put(db: KernDb, row: SnapshotRow) -> None:
    """Replace the session's snapshot with ``row``, whatever its version."""
    store = store_of(db)
    store.drop_snapshot(store.snapshot_row(row.session_id))
    store.save_snapshot(row)


def test_a_session_has_a_snapshot_at_its_last_run_boundary(workflow: Workflow, db: KernDb) -> None:
    row = store_of(db).snapshot_row("s1")
    assert (row.version, row.format) == (HEAD, snapshots.SNAPSHOT_FORMAT)
    assert row.head_hash == db.get_log("s1")[-1].hash


def test_a_new_db_object_starts_from_the_snapshot_and_runs_on(
    workflow: Workflow, db: KernDb, tampering: Tampering
) -> None:
    run_on(db)  # four events after the snapshot: the tail
    fresh = cold(tampering)
    output = run_on(fresh)
    stream = store_of(fresh).stream("s1")
    assert stream.base == HEAD
    assert stream.events[0].version == HEAD + 1
    assert output.content == "ECHO: NEXT"
    warm, restored = db.get_session("s1"), fresh.get_session("s1")
    assert restored is not None and warm is not None
    assert restored.session_state == warm.session_state
    assert [r.run_id for r in restored.runs or []] == [r.run_id for r in warm.runs or []]
    assert fresh.get_events("s1") == db.get_events("s1")
    assert fresh.verify("s1").ok


def test_the_history_context_after_a_snapshot_is_the_one_the_log_gives(
    workflow: Workflow, db: KernDb, tampering: Tampering
) -> None:
    fresh = cold(tampering)
    run_on(fresh)
    upto = store_of(db).stream("s1").version
    log = store_of(db).history("s1", upto)
    restored = store_of(fresh).history("s1", upto)
    assert restored.get_workflow_history(2) == log.get_workflow_history(2)
    assert restored.get_workflow_history(None) == log.get_workflow_history(None)
    assert restored.get_workflow_history_context(3) == log.get_workflow_history_context(3)


def test_history_older_than_the_snapshots_run_index_is_read_from_the_log(
    workflow: Workflow, db: KernDb, tampering: Tampering, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "HISTORY_RUNS", 2)
    run_on(db, "run-7")
    run_on(db, "run-8")  # a new snapshot, at 33, indexing runs 7 and 8 only
    assert store_of(db).snapshot_row("s1").version == HEAD + 8
    fresh = cold(tampering)
    view = store_of(fresh).history("s1", HEAD + 8)
    assert [pair[0] for pair in view.get_workflow_history(4)] == [
        "topic 5",
        "topic 6",
        "next",
        "next",
    ]
    assert fresh.get_session("s1", as_of="run-2") == db.get_session("s1", as_of="run-2")


def test_a_cold_writer_refuses_a_run_id_finished_before_the_snapshot(
    workflow: Workflow, tampering: Tampering
) -> None:
    fresh = cold(tampering)
    with pytest.raises(RunAlreadyStartedError):
        run_on(fresh, "run-1")
    assert store_of(fresh).stream("s1").base == HEAD


@STORED_BYTES
@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda row: replace(row, body=row.body[:-9] + b"corrupted"), id="corrupt"),
        pytest.param(lambda row: replace(row, format=99), id="unknown-format"),
        pytest.param(lambda row: forge(row, version=HEAD + 40), id="ahead-of-the-log"),
        pytest.param(lambda row: forge(row, hash="0" * 64), id="another-hash"),
        pytest.param(lambda row: forge(row, session_id="s2"), id="another-session"),
        pytest.param(lambda row: replace(row, body=b"\xff\xfe"), id="not-json"),
    ],
)
def test_a_snapshot_that_does_not_match_the_log_is_ignored_and_rebuilt(
    workflow: Workflow,
    db: KernDb,
    tampering: Tampering,
    spoil: Callable[[SnapshotRow], SnapshotRow],
) -> None:
    """The new db object reads the whole log, drops the snapshot and writes a good one
    at its next run boundary; what it shows is the log's."""
    put(db, spoil(store_of(db).snapshot_row("s1")))
    fresh = cold(tampering)
    run_on(fresh)
    assert store_of(fresh).stream("s1").base == 0
    rebuilt = store_of(db).snapshot_row("s1")
    assert rebuilt.version == HEAD + 4
    snapshots.restore(rebuilt, "s1")  # usable
    session = fresh.get_session("s1")
    assert session is not None and len(session.runs or []) == RUNS + 1
    assert fresh.verify("s1").ok


@STORED_BYTES
def test_verify_reads_the_log_never_the_snapshot(workflow: Workflow, tampering: Tampering) -> None:
    """A changed byte before the snapshot is found; a corrupt snapshot breaks nothing."""
    put(tampering.db, replace(store_of(tampering.db).snapshot_row("s1"), body=b"{}"))
    assert cold(tampering).verify("s1").ok
    tampering.edit("s1", 3, lambda state: state.replace(b"echo: topic 1", b"echo: topic X"))
    (result,) = cold(tampering).verify("s1").sessions
    assert not result.ok
    assert result.first_bad_version == 3


def test_a_log_changed_at_the_snapshots_version_makes_it_unusable(
    workflow: Workflow, tampering: Tampering
) -> None:
    stored_hash = tampering.record("s1", HEAD).state[-66:-2]
    tampering.edit("s1", HEAD, lambda state: state.replace(stored_hash, stored_hash[::-1]))
    store = store_of(cold(tampering))
    store.refresh(store.stream("s1"))
    assert store.stream("s1").base == 0
    assert store.snapshot_row("s1") is None  # dropped, to be written anew


@STORED_BYTES
def test_an_older_snapshot_never_replaces_a_newer_one(workflow: Workflow, db: KernDb) -> None:
    store = store_of(db)
    newest = store.snapshot_row("s1")
    older = forge(newest, version=HEAD - 8, hash=db.get_log("s1")[HEAD - 9].hash)
    store.save_snapshot(older)
    assert store.snapshot_row("s1") == newest


@THREADED
def test_two_writers_snapshotting_one_session_at_once_leave_a_usable_snapshot(
    workflow: Workflow, db: KernDb, tampering: Tampering
) -> None:
    writers = [db, cold(tampering)]
    errors: list[BaseException] = []

    def write(on: KernDb) -> None:
        try:
            for _ in range(5):
                run_on(on)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(on,)) for on in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    head = HEAD + 4 * 10
    row = store_of(db).snapshot_row("s1")
    assert HEAD < row.version <= head
    assert row.head_hash == db.get_log("s1")[row.version - 1].hash
    fresh = cold(tampering)
    run_on(fresh)
    assert store_of(fresh).stream("s1").base == row.version
    session = fresh.get_session("s1")
    assert session is not None and len(session.runs or []) == RUNS + 11
    assert fresh.verify("s1").ok


def test_fork_delete_and_time_travel_work_on_a_session_started_from_a_snapshot(
    workflow: Workflow, db: KernDb, tampering: Tampering
) -> None:
    fresh = cold(tampering)
    run_on(fresh, "run-7")
    assert fresh.get_session("s1", as_of="run-3") == db.get_session("s1", as_of="run-3")
    forked = fresh.fork_session("s1", at="run-7", new_session_id="s1-fork")
    assert [r.run_id for r in forked.runs or []] == [f"run-{n}" for n in range(1, RUNS + 1)]
    assert fresh.delete_session("s1")
    assert cold(tampering).get_session("s1") is None


def test_a_db_object_that_read_the_first_events_still_starts_from_the_snapshot(
    workflow: Workflow, tampering: Tampering
) -> None:
    """Access checks read version 1 first; the first write then restarts from the snapshot."""
    fresh = cold(tampering)
    assert fresh.get_session("s1", as_of=1) is not None
    run_on(fresh)
    assert store_of(fresh).stream("s1").base == HEAD
    assert fresh.get_events("s1")[0].version == 1


def test_reading_the_whole_session_after_a_snapshot_start_keeps_it_whole(
    workflow: Workflow, db: KernDb, tampering: Tampering
) -> None:
    fresh = cold(tampering)
    run_on(fresh)
    assert fresh.get_events("s1") == db.get_events("s1")
    stream = store_of(fresh).stream("s1")
    assert (stream.base, stream.version, stream.history.floor) == (0, HEAD + 4, 0)
    assert len(stream.history.runs) == RUNS + 1
    run_on(fresh)
    assert fresh.get_events("s1") == db.get_events("s1")


def test_a_snapshot_that_cannot_be_written_fails_no_run(
    workflow: Workflow, db: KernDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(row: SnapshotRow) -> None:
        raise StoreError("the snapshot table is not writable")

    monkeypatch.setattr(store_of(db), "save_snapshot", refuse)
    for _ in range(3):
        assert run_on(db).content == "ECHO: NEXT"
    assert store_of(db).snapshot_row("s1").version == HEAD
    session = db.get_session("s1")
    assert session is not None and len(session.runs or []) == RUNS + 3


@pytest.mark.parametrize("store_kind", ["sqlite-keyring"], indirect=True)
def test_a_keyring_stores_snapshot_is_sealed_and_an_erasure_makes_it_unusable(
    workflow: Workflow, db: KernDb, tampering: Tampering
) -> None:
    """On the encrypted store the snapshot holds no value in clear; a new db object
    starts from it; after an erasure it does not open, and the log is read."""
    row = store_of(db).snapshot_row("s1")
    assert row is not None and b"topic" not in row.body and b"echo" not in row.body
    fresh = cold(tampering)
    run_on(fresh)
    assert store_of(fresh).stream("s1").base == HEAD
    db.erase_session("s1", reason="test")
    after = cold(tampering)
    store = store_of(after)
    store.refresh(store.stream("s1"))
    assert store.stream("s1").base == 0  # the snapshot's key is gone: read from the log
    session = after.get_session("s1")
    assert session is not None and all(run.input == ERASED for run in session.runs or [])
