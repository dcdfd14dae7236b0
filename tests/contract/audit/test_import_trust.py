"""Imports that cannot forge: envelope fields from the envelope only, all or nothing
across the file, resumable, only real Kern logs, and a lost acknowledgement
recognised as success."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from kern.application.ports import AppendConflict
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.domain.encoding import encode_json, link_hash
from kern.domain.records import Record
from kern.errors import InvalidInputError, LogIntegrityError, SessionExistsError
from kern.workflow import Workflow
from tests.contract.audit.conftest import run_twice, stored

Change = Callable[[list[dict[str, Any]]], None]


@pytest.fixture
def two(db: KernDb, make_workflow: Callable[..., Workflow]) -> list[str]:
    """Session a (alice, versions 1-9) and session b (bob, versions 1-9)."""
    run_twice(make_workflow(user_id="alice"), "a")
    run_twice(make_workflow(user_id="bob"), "b")
    return ["a", "b"]


def forged(lines: Sequence[str], change: Change) -> list[str]:
    """One session's exported ``lines`` after ``change`` edits their parsed form
    (payloads without their hash), sealed again into a valid hash chain: what a
    forger who knows the hash recipe would write."""
    data = [json.loads(line) for line in lines]
    for line in data:
        del line["payload"]["hash"]
    change(data)
    previous = ""
    for line in data:
        payload = line["payload"]
        body = encode_json(payload)
        previous = link_hash(previous, line["topic"], line["session_id"], line["version"], body)
        payload["hash"] = previous
    return [json.dumps(line, ensure_ascii=False) for line in data]


def assert_nothing_written(db: KernDb) -> None:
    assert db.store.session_ids() == []
    assert db.store.read_records("a") == [] and db.store.read_records("victim") == []


# -- 5. envelope fields come from the envelope only ----------------------------------


@pytest.mark.parametrize(("key", "value"), [("session_id", "victim"), ("version", 7)])
def test_a_payload_cannot_give_the_envelope_fields(
    db: KernDb, other_db: KernDb, two: list[str], key: str, value: object
) -> None:
    """A payload key that names the session or version is refused, naming the line."""

    def squat(lines: list[dict[str, Any]]) -> None:
        lines[0]["payload"][key] = value

    with pytest.raises(InvalidInputError, match=rf"line 1: the payload holds '{key}'"):
        other_db.import_lines(forged(list(db.export("a")), squat))
    assert_nothing_written(other_db)


def test_an_imported_log_verifies_right_after_the_import(
    db: KernDb, other_db: KernDb, two: list[str]
) -> None:
    other_db.import_lines(db.export(keys=True))
    assert other_db.verify().ok
    assert [stored(other_db, sid) for sid in two] == [stored(db, sid) for sid in two]


# -- 6. all or nothing across the file, and resumable --------------------------------


def test_a_session_taken_between_the_check_and_the_write_leaves_the_whole_file_unwritten(
    db: KernDb, other_db: KernDb, two: list[str]
) -> None:
    """Session b appears (another writer) after the import checked it was free:
    the one transaction fails and session a, checked fine, is not written either."""
    other_db.import_lines(db.export("b", keys=True))
    real = other_db.store.read_records
    hidden = {"b"}

    def read_records(session_id: str) -> list[Record]:
        if session_id in hidden:
            hidden.discard(session_id)
            return []
        return real(session_id)

    other_db.store.read_records = read_records  # type: ignore[method-assign]
    with pytest.raises(SessionExistsError, match="'b'") as raised:
        other_db.import_lines(db.export(keys=True))
    assert raised.value.session_id == "b"
    assert real("a") == []
    assert other_db.store.session_ids() == ["b"]


def test_an_import_stores_every_session_of_the_file_in_one_append(
    db: KernDb, other_db: KernDb, two: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[set[str]] = []
    real = other_db.store.append_records

    def append_records(records: Sequence[Record], keys: Sequence[Any] = ()) -> None:
        calls.append({r.session_id for r in records})
        real(records, keys)

    monkeypatch.setattr(other_db.store, "append_records", append_records)
    other_db.import_lines(db.export(keys=True))
    assert calls == [{"a", "b"}]


def test_skip_existing_resumes_an_interrupted_import(
    db: KernDb, other_db: KernDb, two: list[str]
) -> None:
    other_db.import_lines(
        db.export("a", keys=True)
    )  # the first part landed, then the import stopped

    report = other_db.import_lines(db.export(keys=True), skip_existing=True)

    assert (report.sessions, report.skipped) == (["b"], ["a"])
    assert report.events == 9
    assert report.to_json()["skipped"] == ["a"]
    assert [stored(other_db, sid) for sid in two] == [stored(db, sid) for sid in two]


def test_a_rerun_without_skip_existing_is_still_refused(
    db: KernDb, other_db: KernDb, two: list[str]
) -> None:
    other_db.import_lines(db.export("a", keys=True))
    with pytest.raises(SessionExistsError, match="'a' already exists"):
        other_db.import_lines(db.export(keys=True))
    assert stored(other_db, "b") == []


def test_skip_existing_refuses_a_different_session_with_the_same_id(
    db: KernDb, other_db: KernDb, two: list[str], make_workflow: Callable[..., Workflow]
) -> None:
    """Only a byte-identical stored session is skipped; another one is named."""
    other_db.import_lines(db.export("a", keys=True))
    before = stored(other_db, "a")
    make_workflow(user_id="alice").run(input="another", session_id="a")  # a grows in db

    with pytest.raises(SessionExistsError, match="'a' already exists with other events") as raised:
        other_db.import_lines(db.export(keys=True), skip_existing=True)
    assert raised.value.session_id == "a"
    assert stored(other_db, "a") == before
    assert stored(other_db, "b") == []


def test_skip_existing_must_be_a_bool(other_db: KernDb) -> None:
    with pytest.raises(InvalidInputError, match="skip_existing"):
        other_db.import_lines([], skip_existing="yes")  # type: ignore[arg-type]


# -- 7. only real Kern session logs ----------------------------------------------------


def _drop_session_started(lines: list[dict[str, Any]]) -> None:
    del lines[0]
    for line in lines:
        line["version"] -= 1


def _second_session_started(lines: list[dict[str, Any]]) -> None:
    takeover = json.loads(json.dumps(lines[0]))
    takeover["version"] = len(lines) + 1
    takeover["payload"]["user_id"] = "mallory"
    takeover["payload"]["timestamp"] = lines[-1]["payload"]["timestamp"]
    lines.append(takeover)


def _timestamp_back(lines: list[dict[str, Any]]) -> None:
    lines[4]["payload"]["timestamp"] = "2001-01-01T00:00:00Z"


def _other_owner(lines: list[dict[str, Any]]) -> None:
    lines[2]["payload"]["user_id"] = "mallory"


def _nul_user(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        line["payload"]["user_id"] = "al\x00ice"


def _step_of_unknown_run(lines: list[dict[str, Any]]) -> None:
    lines[2]["payload"]["run_id"] = "never-started"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_session_started, r"version 1 \(line 1\): not a Kern session log: .*SessionStarted"),
        (_second_session_started, r"version 10 \(line 10\): .*second SessionStarted"),
        (_timestamp_back, r"version 5 \(line 5\): .*timestamp goes back"),
        (_other_owner, r"version 3 \(line 3\): .*'mallory' is not the session owner's"),
        (_nul_user, r"version 1 \(line 1\): .*user_id"),
        (_step_of_unknown_run, r"version 3 \(line 3\): .*never started"),
    ],
    ids=["no-start", "second-start", "time-back", "owner", "nul-user", "unknown-run"],
)
def test_a_log_kern_could_not_have_written_is_refused(
    db: KernDb, other_db: KernDb, two: list[str], change: Change, message: str
) -> None:
    with pytest.raises(LogIntegrityError, match=message) as raised:
        other_db.import_lines(forged(list(db.export("a")), change))
    assert raised.value.session_id == "a"
    assert_nothing_written(other_db)


@pytest.mark.parametrize(
    ("session_id", "message"),
    [("x" * 300, "too long: 300 characters"), ("a\x00b", "session_id")],
    ids=["300-chars", "nul"],
)
def test_an_id_the_api_refuses_is_refused(
    db: KernDb, other_db: KernDb, two: list[str], session_id: str, message: str
) -> None:
    def rename(lines: list[dict[str, Any]]) -> None:
        for line in lines:
            line["session_id"] = session_id

    with pytest.raises(InvalidInputError, match=rf"line 1: .*{message}"):
        other_db.import_lines(forged(list(db.export("a")), rename))
    assert other_db.store.session_ids() == []


def test_a_bad_session_after_a_good_one_writes_neither(
    db: KernDb, other_db: KernDb, two: list[str]
) -> None:
    lines = list(db.export("a")) + forged(list(db.export("b")), _other_owner)
    with pytest.raises(LogIntegrityError, match=r"session 'b' .*\(line 12\)"):
        other_db.import_lines(lines)
    assert other_db.store.session_ids() == []


# -- 8. a lost acknowledgement is success ------------------------------------------


def test_an_import_whose_acknowledgement_was_lost_succeeds(
    db: KernDb, other_db: KernDb, two: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = other_db.store.append_records

    def commit_then_fail(records: Sequence[Record], keys: Sequence[Any] = ()) -> None:
        real(records, keys)
        raise AppendConflict("the connection dropped after the commit")

    monkeypatch.setattr(other_db.store, "append_records", commit_then_fail)
    report = other_db.import_lines(db.export(keys=True))
    assert report.sessions == two
    assert other_db.verify().ok


def test_a_fork_whose_acknowledgement_was_lost_succeeds(
    db: KernDb, two: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = db.store.append

    def commit_then_fail(events: Sequence[Any]) -> None:
        real(events)
        db.store.cache.clear()  # type: ignore[attr-defined]  # as a lost reply would
        raise AppendConflict("the connection dropped after the commit")

    monkeypatch.setattr(db.store, "append", commit_then_fail)
    fork = db.fork_session("a", at=5, new_session_id="copy")
    assert fork.session_id == "copy"
    assert [e.version for e in db.get_events("copy")][-1] == len(db.get_events("copy"))
    assert db.verify("copy").ok


def test_a_fork_onto_a_taken_id_is_still_refused(
    db: KernDb, two: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-back only accepts the fork's own events."""
    real = db.store.read
    checks = {"copy": 1}

    def read(session_id: str, **kwargs: Any) -> Any:
        # The up-front check misses "b" being written meanwhile.
        if session_id == "b" and kwargs.get("upto") == 1 and checks.pop("copy", 0):
            return []
        return real(session_id, **kwargs)

    monkeypatch.setattr(db.store, "read", read)
    with pytest.raises(SessionExistsError, match="'b'"):
        db.fork_session("a", at=5, new_session_id="b")


def test_a_file_of_more_events_than_one_insert_batch_lands_whole(other_db: KernDb) -> None:
    """PostgreSQL inserts an import in batches of statements, all in one transaction."""
    source = InMemoryDb()
    for sid in ("big", "small"):
        Workflow(db=source, steps=[lambda step_input: "ok"]).run(input="x", session_id=sid)
    for n in range(600):
        source.update_session_state("big", {"n": n})
    lines = list(source.export())

    report = other_db.import_lines(lines)

    assert report.events == len(lines) > 600
    assert other_db.verify().ok
    assert list(other_db.export()) == lines
