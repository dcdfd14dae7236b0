"""Events stored at an older schema_version read as today's, through the registered
upcasters; the hash chain still verifies, since it covers the bytes as stored.

The scenario: SessionRenamed "was" version 1 with its name under ``name``, and
is now version 2 with ``session_name`` (the test raises the class's
schema_version and registers the upcaster; the stored bytes are written the
old way, hash and all).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kern.application.audit import export_line
from kern.db.in_memory import InMemoryDb
from kern.domain.encoding import encode_json, link_hash
from kern.domain.events import SessionEvent, SessionRenamed
from kern.domain.records import UPCASTERS, Record, decode_record
from kern.errors import UnreadableEventError
from kern.workflow import Workflow
from tests.conftest import echo

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def name_to_session_name(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 to 2: ``name`` became ``session_name``."""
    renamed = {k: v for k, v in data.items() if k != "name"}
    renamed["session_name"] = data["name"]
    return renamed


def written_the_old_way(record: Record, previous_hash: str, schema_version: int = 1) -> Record:
    """``record`` (a SessionRenamed) as a Kern at ``schema_version`` 1 stored it: the name
    under ``name``, hashed and chained like any stored event."""
    data = json.loads(record.state)
    del data["hash"]
    payload = {
        ("name" if key == "session_name" else key): value
        for key, value in ({**data, "schema_version": schema_version}).items()
    }
    body = encode_json(payload)
    stored_hash = link_hash(previous_hash, record.topic, record.session_id, record.version, body)
    state = body[:-1] + b',"hash":' + encode_json(stored_hash) + b"}"
    return record._replace(state=state)


@pytest.fixture
def old_log() -> list[Record]:
    """A session whose last event, a rename, was stored at schema_version 1."""
    with InMemoryDb() as db:
        Workflow(name="Old", db=db, steps=[echo]).run("hi", session_id="s1")
        db.rename_session("s1", "Old name")
        records = db.store.read_records("s1")
    previous = json.loads(records[-2].state)["hash"]
    return [*records[:-1], written_the_old_way(records[-1], previous)]


@pytest.fixture
def renamed_is_version_2(monkeypatch: pytest.MonkeyPatch) -> Callable[[int, Upcaster], None]:
    """Raise SessionRenamed to schema_version 2; returns how to register upcasters."""
    monkeypatch.setattr(SessionRenamed, "schema_version", 2)

    def register(version: int, upcaster: Upcaster) -> None:
        key: tuple[type[SessionEvent], int] = (SessionRenamed, version)
        monkeypatch.setitem(UPCASTERS, key, upcaster)

    return register


def test_a_stored_v1_event_reads_as_the_current_version(
    old_log: list[Record], renamed_is_version_2: Callable[[int, Upcaster], None]
) -> None:
    renamed_is_version_2(1, name_to_session_name)
    db = InMemoryDb()
    # Through an import, which verifies every chain before it writes.
    report = db.import_lines(export_line("s1", record) for record in old_log)
    assert report.sessions == ["s1"]
    event = db.get_events("s1")[-1]
    assert isinstance(event, SessionRenamed)
    assert event.session_name == "Old name"
    session = db.get_session("s1")
    assert session is not None and session.session_name == "Old name"


def test_the_chain_verifies_on_the_stored_bytes_and_they_stay_as_stored(
    old_log: list[Record], renamed_is_version_2: Callable[[int, Upcaster], None]
) -> None:
    """Upcasting happens on read: verify checks the v1 bytes, which reading never rewrites."""
    renamed_is_version_2(1, name_to_session_name)
    db = InMemoryDb()
    db.store.append_records(old_log)
    db.get_session("s1")
    assert db.verify().ok
    assert db.store.read_records("s1") == old_log
    assert b'"name":"Old name"' in db.store.read_records("s1")[-1].state


def test_new_events_are_written_at_the_current_version_beside_upcast_ones(
    old_log: list[Record], renamed_is_version_2: Callable[[int, Upcaster], None]
) -> None:
    renamed_is_version_2(1, name_to_session_name)
    db = InMemoryDb()
    db.store.append_records(old_log)
    db.rename_session("s1", "New name")
    assert db.store.read_records("s1")[-1].state.startswith(b'{"schema_version":2,')
    assert [e.session_name for e in db.get_events("s1") if isinstance(e, SessionRenamed)] == [
        "Old name",
        "New name",
    ]
    assert db.verify().ok


def test_upcasters_apply_in_turn(
    old_log: list[Record],
    renamed_is_version_2: Callable[[int, Upcaster], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Version 1 to 2, then 2 to 3: a v1 event takes both steps, in order."""
    monkeypatch.setattr(SessionRenamed, "schema_version", 3)
    renamed_is_version_2(1, name_to_session_name)
    renamed_is_version_2(2, lambda data: {**data, "session_name": data["session_name"] + "!"})
    assert decode_record(old_log[-1]).session_name == "Old name!"  # type: ignore[attr-defined]


def test_a_missing_upcaster_makes_the_event_unreadable_naming_the_versions(
    old_log: list[Record], renamed_is_version_2: Callable[[int, Upcaster], None]
) -> None:
    last = old_log[-1]
    with pytest.raises(UnreadableEventError) as raised:
        decode_record(last)
    message = str(raised.value)
    assert "schema_version 1 and no upcaster reads it" in message
    assert "this Kern reads version 2" in message
    assert (raised.value.session_id, raised.value.version) == ("s1", last.version)


def test_an_event_newer_than_the_code_is_unreadable(old_log: list[Record]) -> None:
    """Stored at schema_version 3 by a later Kern; this one reads version 1."""
    previous = json.loads(old_log[-2].state)["hash"]
    newer = written_the_old_way(old_log[-1], previous, schema_version=3)
    with pytest.raises(UnreadableEventError, match=r"schema_version 3\b.*written by a newer Kern"):
        decode_record(newer)
