"""Crypto-shredding: a keyring seals every value a user supplied or a step produced;
an erasure destroys the keys, the log stays verifiable, and nothing else changes.

Each test runs on the in-memory, SQLite and PostgreSQL stores, each with a keyring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kern.crypto import ERASED, Keyring, LocalKeyring, RotatingKeyring
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.domain.errors import (
    InvalidInputError,
    KeyringError,
    RunErasedError,
    SessionNotFoundError,
    UserRequiredError,
)
from kern.domain.events import StepAttemptFailed
from kern.workflow import Step, StepInput, Workflow
from tests.conftest import POSTGRES_URL, postgres_table

MARKER = "ZEBRA-7731"
"""A string only alice's runs contain."""

MASTER = LocalKeyring(bytes(range(32)))
OTHER_MASTER = LocalKeyring(bytes(range(1, 33)))


def research(step_input: StepInput) -> str:
    step_input.session_state["notes"] = f"notes on {step_input.input}"
    return f"findings on {step_input.input}"


def summarize(step_input: StepInput) -> str:
    return f"summary: {step_input.previous_step_content}"


class Place:
    """Where a store of one kind lives, to open it again (as another process would)."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.memory: InMemoryDb | None = None
        if kind == "sqlite":
            self.file = tmp_path / "kern.db"
        elif kind == "postgres":
            self.schema = request.getfixturevalue("postgres_schema")
            self.table = postgres_table()

    def open(self, keyring: Keyring | None = MASTER) -> KernDb:
        if self.kind == "memory":
            if self.memory is None:
                self.memory = InMemoryDb(keyring=keyring)
            return self.memory
        if self.kind == "sqlite":
            return SqliteDb(self.file, keyring=keyring)
        return PostgresDb(POSTGRES_URL, self.table, self.schema, keyring=keyring)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    return Place(str(request.param), tmp_path, request)


@pytest.fixture
def db(place: Place) -> Iterator[KernDb]:
    """A store with a keyring: alice's two runs (holding MARKER) and bob's one."""
    db = place.open()
    workflow = Workflow(name="Research", db=db, steps=[research, summarize])
    for text in (f"first {MARKER}", f"second {MARKER}"):
        workflow.run(input=text, session_id="s-a1", user_id="alice")
    workflow.run(input=f"third {MARKER}", session_id="s-a2", user_id="alice")
    db.rename_session("s-a1", f"Alice {MARKER}", "alice")
    workflow.run(input="bob's topic", session_id="s-b1", user_id="bob")
    yield db
    if place.kind != "memory":
        db.close()


def stored_bytes(db: KernDb) -> bytes:
    """Every stored event's bytes, as the database holds them."""
    return b"".join(r.state for sid in db.store.session_ids() for r in db.store.read_records(sid))


def export_of(db: KernDb, session_id: str) -> list[str]:
    return list(db.export(session_id))


def test_values_are_sealed_in_the_store_and_read_back_in_clear(db: KernDb) -> None:
    assert MARKER.encode() not in stored_bytes(db)
    session = db.get_session("s-a1", "alice")
    assert session is not None
    assert [run.input for run in session.runs or []] == [f"first {MARKER}", f"second {MARKER}"]
    assert session.session_state == {"notes": f"notes on second {MARKER}"}
    assert all(MARKER not in line for line in db.export())  # the export carries ciphertext
    assert db.verify().ok


def test_after_erase_user_another_db_object_reads_markers_and_others_are_untouched(
    db: KernDb, place: Place
) -> None:
    bob_before = export_of(db, "s-b1")
    entry = db.erase_user("alice", reason="GDPR art. 17, request 88", requested_by="dpo")
    assert entry is not None and entry.sessions == 2
    assert entry.kind == "erase_user" and entry.subject == "user"
    assert "alice" not in json.dumps(entry.detail) and MARKER not in json.dumps(entry.detail)
    fresh = place.open()
    try:
        for reader in (db, fresh):
            session = reader.get_session("s-a1", "alice")
            assert session is not None
            runs = session.runs or []
            assert [run.status.value for run in runs] == ["COMPLETED", "COMPLETED"]
            assert [run.input for run in runs] == [ERASED, ERASED]
            assert [run.content for run in runs] == [ERASED, ERASED]
            assert all(step.content == ERASED for run in runs for step in run.step_results)
            assert session.session_state == {}
            assert session.session_name == ERASED
            assert reader.verify().ok
            assert export_of(reader, "s-b1") == bob_before
            bob = reader.get_session("s-b1", "bob")
            assert bob is not None and (bob.runs or [])[0].input == "bob's topic"
        assert MARKER.encode() not in stored_bytes(fresh)
        assert fresh.get_sessions(session_name=MARKER) == []  # the listing's name is blanked
    finally:
        if place.kind != "memory":
            fresh.close()
    # Idempotent: nothing is left to erase.
    assert db.erase_user("alice", reason="again") is None


def test_anchors_signed_before_an_erasure_still_verify_after_it(db: KernDb) -> None:
    key = Ed25519PrivateKey.generate()
    anchors = db.anchor(key)
    db.erase_user("alice", reason="request 89")
    assert db.verify(anchors=anchors, public_key=key.public_key()).ok


def test_erase_session_leaves_the_users_other_sessions(db: KernDb) -> None:
    entry = db.erase_session("s-a2", reason="the user asked for this one")
    assert entry is not None and entry.subject == "session:s-a2"
    erased = db.get_session("s-a2", "alice")
    kept = db.get_session("s-a1", "alice")
    assert erased is not None and kept is not None
    assert (erased.runs or [])[0].input == ERASED
    assert (kept.runs or [])[0].input == f"first {MARKER}"
    assert db.erase_session("s-a2", reason="again") is None
    with pytest.raises(SessionNotFoundError):
        db.erase_session("nobody", reason="x")


def test_retention_erases_what_is_older_and_is_idempotent(db: KernDb) -> None:
    assert db.erase_older_than(timedelta(days=1), reason="90-day policy") is None
    entry = db.erase_older_than(timedelta(microseconds=1), reason="policy", workflow_id="research")
    assert entry is not None and entry.sessions == 3 and entry.kind == "retention"
    assert db.erase_older_than(timedelta(microseconds=1), reason="policy") is None
    with pytest.raises(InvalidInputError, match="positive timedelta"):
        db.erase_older_than(timedelta(0), reason="policy")


def test_an_erased_run_is_not_replayed(db: KernDb) -> None:
    session = db.get_session("s-a2", "alice")
    assert session is not None
    run_id = (session.runs or [])[0].run_id
    assert run_id is not None
    workflow = Workflow(name="Research", db=db, steps=[research, summarize])
    assert not workflow.replay(run_id=run_id, session_id="s-a2", user_id="alice").changed
    db.erase_session("s-a2", reason="request 90")
    with pytest.raises(RunErasedError, match="was erased"):
        workflow.replay(run_id=run_id, session_id="s-a2", user_id="alice")


def test_time_travel_and_forks_work_on_sealed_values(db: KernDb) -> None:
    then = db.get_session("s-a1", "alice", as_of=2)
    assert then is not None and (then.runs or [])[0].input == f"first {MARKER}"
    view = db.get_step_view("s-a1", (then.runs or [])[0].run_id or "", 1, "alice")
    assert view.input["previous_step_content"] == f"findings on first {MARKER}"
    fork = db.fork_session("s-a1", at=4, new_session_id="s-fork", user_id="alice")
    assert [run.input for run in fork.runs or []] == [f"first {MARKER}"]
    assert MARKER.encode() not in stored_bytes(db)
    assert db.verify("s-fork").ok


def test_rotating_the_master_key_rewraps_without_rewriting_events(db: KernDb, place: Place) -> None:
    events = stored_bytes(db)
    assert db.rotate_keyring(OTHER_MASTER) == 3
    assert stored_bytes(db) == events
    if place.kind == "memory":
        return
    with pytest.raises(KeyringError, match="wrapped by master key"):
        place.open(MASTER)
    again = place.open(OTHER_MASTER)
    try:
        session = again.get_session("s-b1")
        assert session is not None and (session.runs or [])[0].input == "bob's topic"
    finally:
        again.close()


def test_a_wrong_or_missing_master_key_is_refused_at_open_and_writes_nothing(
    db: KernDb, place: Place
) -> None:
    if place.kind == "memory":
        return
    before = stored_bytes(db)
    with pytest.raises(KeyringError, match="wrapped by master key"):
        place.open(OTHER_MASTER)
    # SQLite checks at open; PostgreSQL, which opens its connections lazily, before
    # the first write.
    with pytest.raises(KeyringError, match="holds encrypted sessions"):
        keyless = place.open(None)
        try:
            Workflow(name="Research", db=keyless, steps=[research]).run(
                input="x", session_id="new", user_id="carol"
            )
        finally:
            keyless.close()
    assert stored_bytes(db) == before


def test_erasing_needs_a_keyring_a_reason_and_an_admin() -> None:
    with pytest.raises(KeyringError, match="no keyring"):
        InMemoryDb().erase_user("alice", reason="x")
    keyed = InMemoryDb(keyring=MASTER)
    for reason in ("", "   ", 7, "x" * 501, "two\nlines"):
        with pytest.raises(InvalidInputError, match="reason"):
            keyed.erase_user("alice", reason=reason)  # type: ignore[arg-type]
    with pytest.raises(UserRequiredError):
        InMemoryDb(strict_users=True, keyring=MASTER).erase_user("alice", reason="x")


@pytest.mark.parametrize("bad", [b"short", "text", 32])
def test_a_malformed_master_key_is_refused(bad: Any) -> None:
    with pytest.raises(KeyringError, match="32 bytes"):
        LocalKeyring(bad)


def test_a_purge_on_an_encrypted_store_takes_the_sessions_key_too(db: KernDb) -> None:
    assert db.store.get_key(session_id="s-a2") is not None
    db.purge_session("s-a2", reason="request 91", requested_by="dpo")
    assert db.store.get_key(session_id="s-a2") is None
    assert db.store.read_records("s-a2") == []
    assert db.verify().ok
    kept = db.get_session("s-a1", "alice")
    assert kept is not None and (kept.runs or [])[0].input == f"first {MARKER}"


def test_reading_an_erased_session_asks_the_store_about_its_key_once(
    db: KernDb, place: Place
) -> None:
    db.erase_user("alice", reason="request 92")
    fresh = place.open()
    asked: list[str] = []
    table = fresh.store
    real_get, real_erased = table.get_key, table.key_erased

    def get_key(**kwargs: Any) -> Any:
        asked.append("get_key")
        return real_get(**kwargs)

    def key_erased(key_id: str) -> bool:
        asked.append("key_erased")
        return real_erased(key_id)

    table.get_key = get_key  # type: ignore[method-assign]
    table.key_erased = key_erased  # type: ignore[method-assign]
    try:
        for _ in range(2):
            fresh.store.forget_cached(["s-a1"])  # every event decoded again
            session = fresh.get_session("s-a1")
            assert session is not None and (session.runs or [])[0].input == ERASED
        # One key for the session, looked up once, however many events it sealed (the
        # in-memory db object is the one that erased it: it knows already).
        once = [] if place.kind == "memory" else ["get_key", "key_erased"]
        assert asked == once
    finally:
        if place.kind != "memory":
            fresh.close()


def test_a_run_erased_stays_unreplayable_after_the_session_is_written_to_again(
    db: KernDb,
) -> None:
    session = db.get_session("s-a2", "alice")
    assert session is not None
    erased_run = (session.runs or [])[0].run_id
    assert erased_run is not None
    db.erase_session("s-a2", reason="request 93")
    workflow = Workflow(name="Research", db=db, steps=[research, summarize])
    later = workflow.run(input="after the erasure", session_id="s-a2", user_id="alice")
    assert later.run_id is not None
    with pytest.raises(RunErasedError):
        workflow.replay(run_id=erased_run, session_id="s-a2", user_id="alice")
    assert not workflow.replay(run_id=later.run_id, session_id="s-a2", user_id="alice").changed
    runs = db.get_session("s-a2", "alice").runs or []  # type: ignore[union-attr]
    assert [run.input for run in runs] == [ERASED, "after the erasure"]


@pytest.mark.parametrize(
    "place", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_key_made_by_a_writer_that_lost_the_race_for_a_new_session_is_never_stored(
    place: Place,
) -> None:
    """Each writer makes a key for a session it finds new and stores it with the
    session's first events, in their transaction: the writer that loses the race
    (its key now refused) seals again with the winner's key."""
    first, second = place.open(), place.open()
    try:
        late = second.store.data_keys
        assert late is not None
        made = late.key_for("s-race", "alice")  # as if the second writer were just sealing
        Workflow(name="Research", db=first, steps=[research]).run(
            input="first writer", session_id="s-race", user_id="alice"
        )
        Workflow(name="Research", db=second, steps=[research]).run(
            input="second writer", session_id="s-race", user_id="alice"
        )
        rows = [row for row in second.store.key_rows() if row.session_id == "s-race"]
        assert len(rows) == 1 and rows[0].key_id != made.key_id
        with place.open() as fresh:
            runs = fresh.get_session("s-race", "alice").runs or []  # type: ignore[union-attr]
            assert [run.input for run in runs] == ["first writer", "second writer"]
            assert fresh.verify("s-race").ok
    finally:
        first.close()
        second.close()


def test_every_session_has_exactly_the_key_its_events_were_sealed_with(db: KernDb) -> None:
    rows = db.store.key_rows()
    assert sorted(row.session_id for row in rows) == ["s-a1", "s-a2", "s-b1"]
    assert {row.session_id: row.owner for row in rows} == {
        "s-a1": "alice",
        "s-a2": "alice",
        "s-b1": "bob",
    }


# -- export and import: the data keys travel wrapped ------------------------------


def test_an_export_with_keys_moves_sessions_to_a_store_of_another_master_key(
    db: KernDb, tmp_path: Path
) -> None:
    lines = list(db.export(keys=True))
    assert not any(MARKER in line for line in lines)  # ciphertext and wrapped keys only
    with SqliteDb(tmp_path / "target.db", keyring=OTHER_MASTER) as target:
        with pytest.raises(KeyringError, match="pass the keyring the lines were exported with"):
            target.import_lines(lines)
        assert target.store.session_ids() == [] and target.store.any_key() is None
        report = target.import_lines(lines, keyring=MASTER)
        assert report.sessions == ["s-a1", "s-a2", "s-b1"]
        assert target.verify().ok
        for session_id in report.sessions:
            assert target.store.read_records(session_id) == db.store.read_records(session_id)
            copy, original = target.get_session(session_id), db.get_session(session_id)
            assert copy is not None and original is not None
            assert copy.to_dict() == original.to_dict()
        assert {row.master_key_id for row in target.store.key_rows()} == {
            OTHER_MASTER.master_key_id
        }
    # The target needs only its own master key from now on.
    with SqliteDb(tmp_path / "target.db", keyring=OTHER_MASTER) as reopened:
        first = reopened.get_session("s-a1", "alice")
        assert first is not None and (first.runs or [])[0].input == f"first {MARKER}"


def test_an_export_without_keys_does_not_import_elsewhere_and_writes_nothing(
    db: KernDb, tmp_path: Path
) -> None:
    with SqliteDb(tmp_path / "target.db", keyring=MASTER) as target:
        with pytest.raises(InvalidInputError, match="export it with its keys"):
            target.import_lines(db.export("s-b1"))
        assert target.store.session_ids() == [] and target.erasures() == []
    with SqliteDb(tmp_path / "plain.db") as plain:
        with pytest.raises(KeyringError, match="store opened with a keyring"):
            plain.import_lines(db.export("s-b1", keys=True))
        assert plain.store.session_ids() == []


def test_an_erased_session_imports_erased_and_the_target_ledger_says_so(
    db: KernDb, tmp_path: Path
) -> None:
    db.erase_user("alice", reason="request 94")
    lines = list(db.export(keys=True))
    with SqliteDb(tmp_path / "target.db", keyring=MASTER) as target:
        target.import_lines(lines)
        erased = target.get_session("s-a1", "alice")
        assert erased is not None and [run.input for run in erased.runs or []] == [ERASED] * 2
        kept = target.get_session("s-b1", "bob")
        assert kept is not None and (kept.runs or [])[0].input == "bob's topic"
        (entry,) = target.erasures()
        assert (entry.kind, entry.sessions) == ("import", 2)
        assert "alice" not in json.dumps(entry.to_json())
        assert target.verify().ok
        with pytest.raises(RunErasedError):
            Workflow(name="Research", db=target, steps=[research, summarize]).replay(
                run_id=(erased.runs or [])[0].run_id or "", session_id="s-a1", user_id="alice"
            )


@pytest.mark.parametrize(
    "change",
    [
        lambda key: key.update(wrapped="not base64!"),
        lambda key: key.update(created_at="yesterday"),
        lambda key: key.pop("master_key_id"),
        lambda key: key.update(wrapped=key["wrapped"][:-8] + "AAAAAAA="),
    ],
)
def test_a_changed_key_line_is_refused_and_nothing_is_written(
    db: KernDb, tmp_path: Path, change: Any
) -> None:
    lines = list(db.export("s-b1", keys=True))
    data = json.loads(lines[0])
    change(data["data_keys"][0])
    lines[0] = json.dumps(data)
    with SqliteDb(tmp_path / "target.db", keyring=MASTER) as target:
        with pytest.raises((InvalidInputError, KeyringError)):
            target.import_lines(lines)
        assert target.store.session_ids() == [] and target.store.any_key() is None


def test_a_writer_holding_a_key_another_process_erased_seals_its_next_run_with_a_new_key(
    db: KernDb, place: Place
) -> None:
    """The db object that wrote alice's runs still holds her session's key when
    another process erases her; its next run must not be sealed with the
    destroyed key (nobody could read it), but with a new one."""
    eraser = place.open()
    eraser.erase_user("alice", reason="request 95")
    later = Workflow(name="Research", db=db, steps=[research, summarize]).run(
        input="after the erasure", session_id="s-a1", user_id="alice"
    )
    assert later.content == "summary: findings on after the erasure"
    fresh = place.open()
    runs = fresh.get_session("s-a1", "alice").runs or []  # type: ignore[union-attr]
    assert [run.input for run in runs] == [ERASED, ERASED, "after the erasure"]
    assert fresh.verify().ok
    rows = [row for row in eraser.store.key_rows() if row.session_id == "s-a1"]
    assert len(rows) == 1 and not eraser.store.key_erased(rows[0].key_id)
    if place.kind != "memory":
        fresh.close()
        eraser.close()


@pytest.mark.parametrize(
    "place", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_rolling_rotation_rewraps_the_keys_a_process_on_the_old_key_made_meanwhile(
    db: KernDb, place: Place
) -> None:
    """Rotating while another process still wraps new keys with the old master key:
    a process on the RotatingKeyring reads both; rotating again rewraps the
    stragglers; then the new master key alone opens everything."""
    rolling = RotatingKeyring(OTHER_MASTER, MASTER)
    rotator = place.open(rolling)
    try:
        assert rotator.rotate_keyring(rolling) == 3
        # A process still on the old master key starts a session meanwhile.
        Workflow(name="Research", db=db, steps=[research]).run(
            input="late", session_id="s-late", user_id="carol"
        )
        late = rotator.get_session("s-late", "carol")
        assert late is not None and (late.runs or [])[0].input == "late"
        assert rotator.rotate_keyring(rolling) == 1
        assert rotator.rotate_keyring(rolling) == 0
    finally:
        rotator.close()
    with place.open(OTHER_MASTER) as settled:
        for session_id, user in (("s-a1", "alice"), ("s-b1", "bob"), ("s-late", "carol")):
            assert settled.get_session(session_id, user) is not None
        assert {row.master_key_id for row in settled.store.key_rows()} == {
            OTHER_MASTER.master_key_id
        }


def test_a_rotating_keyring_is_made_of_keyrings() -> None:
    with pytest.raises(KeyringError, match="made of keyrings"):
        RotatingKeyring(MASTER, b"old key")  # type: ignore[arg-type]


def test_the_errors_of_failed_attempts_are_sealed_and_erased(db: KernDb, place: Place) -> None:
    """A StepAttemptFailed's error and traceback quote what the step handled."""

    def fetch(step_input: StepInput) -> str:
        raise TimeoutError(f"no answer for {step_input.input}")

    workflow = Workflow(name="Fetch", db=db, steps=[Step(executor=fetch, max_retries=1)])
    workflow.run(input=f"fourth {MARKER}", session_id="s-a3", user_id="alice")
    assert MARKER.encode() not in stored_bytes(db)
    attempts = [e for e in db.get_events("s-a3", "alice") if isinstance(e, StepAttemptFailed)]
    assert [a.error for a in attempts] == [f"no answer for fourth {MARKER}"] * 2
    assert all(MARKER in (a.traceback or "") for a in attempts)
    db.erase_session("s-a3", reason="request 89", requested_by="dpo")
    erased = [e for e in db.get_events("s-a3", "alice") if isinstance(e, StepAttemptFailed)]
    assert [(a.error, a.traceback, a.error_type) for a in erased] == [
        (ERASED, ERASED, "TimeoutError")
    ] * 2
    assert db.verify().ok


def test_an_import_line_records_as_erased_only_the_keys_its_own_records_lost(
    db: KernDb, tmp_path: Path
) -> None:
    """A line's erased_keys naming a key its session never used, or a key the
    target holds for another session, does not reach the target's ledger."""
    with SqliteDb(tmp_path / "target.db", keyring=MASTER) as target:
        target.import_lines(db.export("s-b1", keys=True))
        bobs_key = target.store.key_rows()[0].key_id
        db.erase_user("alice", reason="request 96")
        lines = list(db.export("s-a2", keys=True))
        data = json.loads(lines[0])
        destroyed = list(data["erased_keys"])
        data["erased_keys"] += [bobs_key, "k-" + "0" * 32]
        lines[0] = json.dumps(data)
        target.import_lines(lines)
        (entry,) = target.erasures()
        assert entry.detail["keys"] == destroyed
        bob = target.get_session("s-b1", "bob")
        assert bob is not None and (bob.runs or [])[0].input == "bob's topic"
