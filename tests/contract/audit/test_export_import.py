"""Export to JSON lines and import into another store: byte for byte, and refused
when a chain does not verify or a session already exists."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kern.db import KernDb
from kern.domain.encoding import encode_json
from kern.errors import (
    InvalidInputError,
    LogIntegrityError,
    SessionExistsError,
    SessionNotFoundError,
)
from kern.workflow import Workflow
from tests.contract.audit.conftest import run_twice, stored


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Session s1 with two runs: versions 1-9."""
    workflow = make_workflow()
    run_twice(workflow, "s1")
    return workflow


@pytest.fixture
def several(db: KernDb, make_workflow: Callable[..., Workflow]) -> list[str]:
    """Four sessions of two users, one renamed, one with state, one deleted."""
    workflow = make_workflow()
    run_twice(workflow, "a")
    workflow.run(input="for bob", session_id="b", user_id="bob")
    db.update_session_state("b", {"tier": "gold"}, user_id="bob")
    run_twice(workflow, "c")
    db.rename_session("c", "Quarterly review")
    run_twice(workflow, "d")
    db.delete_session("d")
    return ["a", "b", "c", "d"]


def lines_of(db: KernDb, session_id: str | None = None) -> list[str]:
    return list(db.export(session_id))


def edited(line: str, change: Callable[[dict[str, object]], None]) -> str:
    data = json.loads(line)
    change(data)
    return json.dumps(data)


# -- export ---------------------------------------------------------------------


def test_export_gives_one_line_per_stored_event_with_its_bytes(
    db: KernDb, workflow: Workflow
) -> None:
    lines = lines_of(db, "s1")

    assert len(lines) == 9
    for line, (session_id, version, topic, state) in zip(lines, stored(db, "s1"), strict=True):
        data = json.loads(line)
        assert list(data) == ["session_id", "version", "topic", "payload"]
        assert (data["session_id"], data["version"], data["topic"]) == (session_id, version, topic)
        assert encode_json(data["payload"]) == state
        assert "hash" in data["payload"]
        assert "\n" not in line


def test_export_of_all_sessions_goes_oldest_first_in_version_order(
    db: KernDb, several: list[str]
) -> None:
    keys = [(d["session_id"], d["version"]) for d in map(json.loads, lines_of(db))]
    expected = [(sid, r[1]) for sid in several for r in stored(db, sid)]
    assert keys == expected


def test_export_of_an_unknown_session_fails_at_once(db: KernDb) -> None:
    with pytest.raises(SessionNotFoundError, match="'nope'"):
        db.export("nope")


def test_export_reports_progress_per_session(db: KernDb, several: list[str]) -> None:
    calls: list[tuple[int, int]] = []
    list(db.export(progress=lambda done, total: calls.append((done, total))))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


# -- import -----------------------------------------------------------------------


def test_import_stores_the_exported_bytes_exactly(
    db: KernDb, other_db: KernDb, workflow: Workflow
) -> None:
    report = other_db.import_lines(db.export("s1", keys=True))

    assert (report.sessions, report.events) == (["s1"], 9)
    assert report.to_json() == {"sessions": ["s1"], "events": 9, "skipped": []}
    assert stored(other_db, "s1") == stored(db, "s1")
    copy, original = other_db.get_session("s1"), db.get_session("s1")
    assert copy is not None and original is not None
    assert copy.to_dict() == original.to_dict()
    assert other_db.verify("s1").ok


def test_all_sessions_move_to_another_store_and_verify_there(
    db: KernDb, other_db: KernDb, several: list[str]
) -> None:
    report = other_db.import_lines(db.export(keys=True))

    assert report.sessions == several
    assert other_db.verify().ok
    assert other_db.store.session_ids() == db.store.session_ids()
    for session_id in several:
        assert stored(other_db, session_id) == stored(db, session_id)
    assert other_db.get_session("d") is None
    assert [s.to_dict() for s in other_db.get_sessions()] == [
        s.to_dict() for s in db.get_sessions()
    ]
    assert [s.session_id for s in other_db.get_sessions(user_id="bob")] == ["b"]


def test_import_reads_a_file_of_exported_lines(
    db: KernDb, other_db: KernDb, several: list[str], tmp_path: Path
) -> None:
    """Lines as read from a file keep their newline; blank lines are skipped."""
    path = tmp_path / "export.jsonl"
    path.write_text("".join(f"{line}\n" for line in db.export(keys=True)) + "\n", encoding="utf-8")

    with path.open(encoding="utf-8") as lines:
        report = other_db.import_lines(lines)

    assert report.sessions == several
    assert stored(other_db, "c") == stored(db, "c")


def test_import_reports_progress_in_events(
    db: KernDb, other_db: KernDb, several: list[str]
) -> None:
    calls: list[tuple[int, int]] = []
    report = other_db.import_lines(
        db.export(keys=True), progress=lambda done, total: calls.append((done, total))
    )
    total = sum(len(stored(db, sid)) for sid in several)
    assert report.events == total
    # One transaction writes every session: nothing is done until all of it is.
    assert calls == [(0, total), (total, total)]


def test_import_of_nothing_writes_nothing(other_db: KernDb) -> None:
    report = other_db.import_lines([])
    assert (report.sessions, report.events) == ([], 0)


def test_import_never_overwrites_an_existing_session(db: KernDb, workflow: Workflow) -> None:
    before = stored(db, "s1")

    with pytest.raises(SessionExistsError, match="'s1' already exists") as raised:
        db.import_lines(db.export("s1"))

    assert raised.value.session_id == "s1"
    assert stored(db, "s1") == before


def test_import_with_one_existing_session_writes_none_of_them(
    db: KernDb, other_db: KernDb, several: list[str]
) -> None:
    Workflow(name="Elsewhere", db=other_db, steps=[...]).run(input="x", session_id="c")
    before = stored(other_db, "c")

    with pytest.raises(SessionExistsError):
        other_db.import_lines(db.export())

    assert stored(other_db, "c") == before
    assert other_db.store.session_ids() == ["c"]


def test_import_refuses_a_stream_whose_payload_was_edited(
    db: KernDb, other_db: KernDb, workflow: Workflow
) -> None:
    lines = lines_of(db, "s1")

    def change(data: dict[str, object]) -> None:
        payload = data["payload"]
        assert isinstance(payload, dict)
        payload["content"] = {"type": "str", "value": "echo: jello"}

    lines[2] = edited(lines[2], change)

    with pytest.raises(LogIntegrityError) as raised:
        other_db.import_lines(lines)

    error = raised.value
    assert (error.session_id, error.version) == ("s1", 3)
    assert error.problem.startswith("content changed")
    assert "session 's1'" in str(error) and "version 3" in str(error) and "line 3" in str(error)
    assert stored(other_db, "s1") == []


def test_import_refuses_a_stream_with_a_gap(
    db: KernDb, other_db: KernDb, workflow: Workflow
) -> None:
    lines = lines_of(db, "s1")
    del lines[3]

    with pytest.raises(LogIntegrityError, match="version 4") as raised:
        other_db.import_lines(lines)

    assert raised.value.version == 4
    assert raised.value.problem.startswith("missing event")
    assert stored(other_db, "s1") == []


def test_import_refuses_lines_out_of_order(
    db: KernDb, other_db: KernDb, workflow: Workflow
) -> None:
    lines = lines_of(db, "s1")
    lines[4], lines[5] = lines[5], lines[4]

    with pytest.raises(LogIntegrityError) as raised:
        other_db.import_lines(lines)

    assert raised.value.version == 5
    assert raised.value.problem == "order changed: version 5 is stored after version 6"
    assert stored(other_db, "s1") == []


def test_import_refuses_a_line_moved_to_another_session(
    db: KernDb, other_db: KernDb, workflow: Workflow
) -> None:
    """The session_id is part of each hash: a stream copied under another id fails."""
    lines = [edited(line, lambda d: d.update(session_id="copy")) for line in lines_of(db, "s1")]

    with pytest.raises(LogIntegrityError) as raised:
        other_db.import_lines(lines)

    assert (raised.value.session_id, raised.value.version) == ("copy", 1)
    assert stored(other_db, "copy") == []


def test_import_writes_nothing_when_a_later_session_is_broken(
    db: KernDb, other_db: KernDb, several: list[str]
) -> None:
    lines = lines_of(db)
    del lines[-2]  # session d, the last in the export, loses an event

    with pytest.raises(LogIntegrityError) as raised:
        other_db.import_lines(lines)

    assert raised.value.session_id == "d"
    assert other_db.store.session_ids() == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "line 5: not valid JSON"),
        ("[1, 2]", "line 5: expected a JSON object"),
        ('{"session_id": "", "version": 1, "topic": "t", "payload": {}}', "line 5: session_id"),
        ('{"session_id": "s1", "version": 0, "topic": "t", "payload": {}}', "line 5: version"),
        ('{"session_id": "s1", "version": true, "topic": "t", "payload": {}}', "line 5: version"),
        ('{"session_id": "s1", "version": 5, "topic": "t", "payload": []}', "line 5: topic"),
    ],
    ids=["json", "not-object", "session-id", "version", "bool-version", "payload"],
)
def test_import_names_the_line_that_cannot_be_read(
    db: KernDb, other_db: KernDb, workflow: Workflow, bad: str, message: str
) -> None:
    lines = lines_of(db, "s1")
    lines[4] = bad

    with pytest.raises(InvalidInputError, match=message):
        other_db.import_lines(lines)

    assert stored(other_db, "s1") == []


def test_import_needs_each_sessions_lines_together(
    db: KernDb, other_db: KernDb, several: list[str]
) -> None:
    lines = lines_of(db, "a")
    lines[4:4] = lines_of(db, "b")

    with pytest.raises(InvalidInputError, match=r"line \d+: session 'a' continues"):
        other_db.import_lines(lines)

    assert other_db.store.session_ids() == []
