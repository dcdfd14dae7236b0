"""The stored form of every event: its topic and its exact JSON payload.

Stored logs outlive the code that wrote them, so a change to an event's topic
or fields must be deliberate. Each event class has a fully specified sample
here with the payload written out by hand; a new event class fails
``test_every_event_class_is_pinned`` until it gets one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from kern.adapters.stores.codec import from_stored, to_stored
from kern.domain import events
from kern.domain.encoding import encode_json
from kern.domain.errors import StoreError
from kern.domain.events import (
    EVENT_CLASSES,
    RunCompleted,
    RunResumed,
    RunStarted,
    SessionDeleted,
    SessionEvent,
    SessionForked,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepAttemptFailed,
    StepCompleted,
)
from kern.domain.values import (
    ExecutorMessage,
    ExecutorRun,
    Metrics,
    Provenance,
    RunStatus,
    StateChanges,
    StoredValue,
)

WHEN = datetime(2024, 11, 19, 14, 30, 5, 123456, tzinfo=UTC)
STAMP = "2024-11-19T14:30:05.123456Z"
TRACEBACK = "Traceback (most recent call last):\n  ...\nValueError: boom\n"

_PINNED: list[tuple[SessionEvent, str, dict[str, Any]]] = [
    (
        SessionStarted(
            session_id="session_123",
            version=1,
            timestamp=WHEN,
            user_id="alice",
            workflow_id="research-pipeline",
            workflow_name="Research Pipeline",
            workflow_data={"steps": ["echo", "shout"]},
            metadata={"team": "kern"},
            session_state={"count": 0},
        ),
        "kern.domain.events:SessionStarted",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "workflow_id": "research-pipeline",
            "workflow_name": "Research Pipeline",
            "workflow_data": {"steps": ["echo", "shout"]},
            "metadata": {"team": "kern"},
            "session_state": {"count": 0},
        },
    ),
    (
        RunStarted(
            session_id="session_123",
            version=2,
            timestamp=WHEN,
            user_id="alice",
            run_id="run-1",
            input=StoredValue(type="app.models.Topic", value={"name": "AI", "depth": 2}),
            session_state={"count": 0, "mode": "fast"},
            workflow_id="research-pipeline",
            workflow_name="Research Pipeline",
        ),
        "kern.domain.events:RunStarted",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "run_id": "run-1",
            "input": {"type": "app.models.Topic", "value": {"name": "AI", "depth": 2}},
            "session_state": {"count": 0, "mode": "fast"},
            "workflow_id": "research-pipeline",
            "workflow_name": "Research Pipeline",
        },
    ),
    (
        StepCompleted(
            session_id="session_123",
            version=3,
            timestamp=WHEN,
            user_id="alice",
            run_id="run-1",
            step_index=0,
            step_name="research",
            step_type="step",
            executor_type="agent",
            executor_name="Researcher",
            executor_id="agent-1",
            input=StoredValue(type="str", value="context\nAI"),
            content=StoredValue(type="list", value=["a", 1]),
            success=False,
            error="boom",
            metrics=Metrics(duration=0.25),
            executor_run=ExecutorRun(
                run_id="agent-run-1",
                agent_id="agent-1",
                team_id=None,
                status=RunStatus.error,
                messages=[
                    ExecutorMessage(role="system", content="be brief"),
                    ExecutorMessage(role="user", content="old", from_history=True),
                    ExecutorMessage(role="tool", content={"ok": True}, tool_call_id="call-1"),
                ],
            ),
            state_changes=StateChanges(set={"count": 1}, removed=["mode"]),
            error_type="ValueError",
            traceback=TRACEBACK,
        ),
        "kern.domain.events:StepCompleted",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "run_id": "run-1",
            "step_index": 0,
            "step_name": "research",
            "step_type": "step",
            "executor_type": "agent",
            "executor_name": "Researcher",
            "executor_id": "agent-1",
            "input": {"type": "str", "value": "context\nAI"},
            "content": {"type": "list", "value": ["a", 1]},
            "success": False,
            "error": "boom",
            "metrics": {"duration": 0.25},
            "executor_run": {
                "run_id": "agent-run-1",
                "agent_id": "agent-1",
                "team_id": None,
                "status": "ERROR",
                "messages": [
                    {"role": "system", "content": "be brief", "from_history": False},
                    {"role": "user", "content": "old", "from_history": True},
                    {
                        "role": "tool",
                        "content": {"ok": True},
                        "from_history": False,
                        "tool_call_id": "call-1",
                    },
                ],
            },
            "state_changes": {"set": {"count": 1}, "removed": ["mode"]},
            "error_type": "ValueError",
            "traceback": TRACEBACK,
        },
    ),
    (
        RunCompleted(
            session_id="session_123",
            version=4,
            timestamp=WHEN,
            user_id="alice",
            run_id="run-1",
            status=RunStatus.error,
            content=StoredValue(type="dict", value={"partial": True}),
            error="boom",
            metrics=Metrics(duration=1.5),
            state_changes=StateChanges(set={"count": 1}, removed=["mode"]),
            error_type="app.errors.Boom",
            traceback=TRACEBACK,
        ),
        "kern.domain.events:RunCompleted",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "run_id": "run-1",
            "status": "ERROR",
            "content": {"type": "dict", "value": {"partial": True}},
            "error": "boom",
            "metrics": {"duration": 1.5},
            "state_changes": {"set": {"count": 1}, "removed": ["mode"]},
            "error_type": "app.errors.Boom",
            "traceback": TRACEBACK,
        },
    ),
    (
        SessionRenamed(
            session_id="session_123",
            version=5,
            timestamp=WHEN,
            user_id="alice",
            session_name="Ärger im Büro",
            autogenerated=True,
        ),
        "kern.domain.events:SessionRenamed",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "session_name": "Ärger im Büro",
            "autogenerated": True,
        },
    ),
    (
        SessionStateUpdated(
            session_id="session_123",
            version=6,
            timestamp=WHEN,
            user_id=None,
            changes=StateChanges(set={"topic": {"name": "AI"}}, removed=["count"]),
        ),
        "kern.domain.events:SessionStateUpdated",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": None,
            "changes": {"set": {"topic": {"name": "AI"}}, "removed": ["count"]},
        },
    ),
    (
        SessionDeleted(session_id="session_123", version=7, timestamp=WHEN, user_id="alice"),
        "kern.domain.events:SessionDeleted",
        {"schema_version": 1, "timestamp": STAMP, "user_id": "alice"},
    ),
    (
        SessionForked(
            session_id="session_123",
            version=8,
            timestamp=WHEN,
            user_id="alice",
            source_session_id="session_000",
            source_version=7,
            source_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        "kern.domain.events:SessionForked",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "source_session_id": "session_000",
            "source_version": 7,
            "source_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
    ),
    (
        StepAttemptFailed(
            session_id="session_123",
            version=9,
            timestamp=WHEN,
            user_id="alice",
            run_id="run-2",
            step_index=1,
            step_name="fetch",
            attempt=2,
            max_retries=3,
            error="timed out",
            error_type="TimeoutError",
            traceback=TRACEBACK,
            metrics=Metrics(duration=0.5),
        ),
        "kern.domain.events:StepAttemptFailed",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "run_id": "run-2",
            "step_index": 1,
            "step_name": "fetch",
            "attempt": 2,
            "max_retries": 3,
            "error": "timed out",
            "error_type": "TimeoutError",
            "traceback": TRACEBACK,
            "metrics": {"duration": 0.5},
        },
    ),
    (
        RunResumed(
            session_id="session_123",
            version=9,
            timestamp=WHEN,
            user_id="alice",
            run_id="run-2",
            step_index=1,
            resumption=2,
        ),
        "kern.domain.events:RunResumed",
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": "alice",
            "run_id": "run-2",
            "step_index": 1,
            "resumption": 2,
        },
    ),
]

# Defaults are part of the contract too: they fill fields an old payload lacks.
_PINNED_DEFAULTS: list[tuple[SessionEvent, dict[str, Any]]] = [
    (
        StepCompleted(
            session_id="s",
            version=3,
            timestamp=WHEN,
            run_id="r",
            step_index=2,
            input=StoredValue(type="null", value=None),
            content=StoredValue(type="null", value=None),
        ),
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": None,
            "run_id": "r",
            "step_index": 2,
            "step_name": None,
            "step_type": "function",
            "executor_type": "function",
            "executor_name": None,
            "executor_id": None,
            "input": {"type": "null", "value": None},
            "content": {"type": "null", "value": None},
            "success": True,
            "error": None,
            "metrics": {"duration": 0.0},
            "executor_run": None,
            "state_changes": {"set": {}, "removed": []},
            "error_type": None,
            "traceback": None,
        },
    ),
    (
        RunCompleted(
            session_id="s", version=4, timestamp=WHEN, run_id="r", status=RunStatus.completed
        ),
        {
            "schema_version": 1,
            "timestamp": STAMP,
            "user_id": None,
            "run_id": "r",
            "status": "COMPLETED",
            "content": {"type": "null", "value": None},
            "error": None,
            "metrics": {"duration": 0.0},
            "state_changes": {"set": {}, "removed": []},
            "error_type": None,
            "traceback": None,
        },
    ),
]

NO_PROVENANCE = {
    "correlation_id": None,
    "kern_version": None,
    "workflow_fingerprint": None,
    "metadata": None,
}


def stored(payload: dict[str, Any], hash: str = "") -> dict[str, Any]:
    """A pinned payload with the envelope every event shares: provenance after
    user_id, and the chained hash as the last key."""
    head = {k: payload[k] for k in ("schema_version", "timestamp", "user_id")}
    rest = {k: v for k, v in payload.items() if k not in head}
    return {**head, "provenance": NO_PROVENANCE, **rest, "hash": hash}


# What Kern wrote before StepCompleted and RunCompleted reached schema version 2:
# every field, defaults included. Such logs must keep reading as the same events.
WRITTEN_BY_VERSION_1 = [(event, topic, stored(payload)) for event, topic, payload in _PINNED]
DEFAULTS_WRITTEN_BY_VERSION_1 = [(event, stored(payload)) for event, payload in _PINNED_DEFAULTS]

# What Kern writes today, by hand: a field equal to its default is left out
# (provenance too, when all of it is), StepCompleted is at schema version 3 and
# RunCompleted at 2, and the hash is always the last key.
_COMPACT: dict[str, dict[str, Any]] = {
    "SessionStarted": {
        "schema_version": 1,
        "timestamp": STAMP,
        "user_id": "alice",
        "workflow_id": "research-pipeline",
        "workflow_name": "Research Pipeline",
        "workflow_data": {"steps": ["echo", "shout"]},
        "metadata": {"team": "kern"},
        "session_state": {"count": 0},
        "hash": "",
    },
    "RunStarted": {
        "schema_version": 1,
        "timestamp": STAMP,
        "user_id": "alice",
        "run_id": "run-1",
        "input": {"type": "app.models.Topic", "value": {"name": "AI", "depth": 2}},
        "session_state": {"count": 0, "mode": "fast"},
        "workflow_id": "research-pipeline",
        "workflow_name": "Research Pipeline",
        "hash": "",
    },
    "StepCompleted": {
        "schema_version": 3,
        "timestamp": STAMP,
        "user_id": "alice",
        "run_id": "run-1",
        "step_index": 0,
        "step_name": "research",
        "step_type": "step",
        "executor_type": "agent",
        "executor_name": "Researcher",
        "executor_id": "agent-1",
        "input": {"type": "str", "value": "context\nAI"},
        "content": {"type": "list", "value": ["a", 1]},
        "success": False,
        "error": "boom",
        "metrics": {"duration": 0.25},
        "executor_run": {
            "run_id": "agent-run-1",
            "agent_id": "agent-1",
            "status": "ERROR",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "old", "from_history": True},
                {"role": "tool", "content": {"ok": True}, "tool_call_id": "call-1"},
            ],
        },
        "state_changes": {"set": {"count": 1}, "removed": ["mode"]},
        "error_type": "ValueError",
        "traceback": TRACEBACK,
        "hash": "",
    },
    "RunCompleted": {
        "schema_version": 2,
        "timestamp": STAMP,
        "user_id": "alice",
        "run_id": "run-1",
        "status": "ERROR",
        "content": {"type": "dict", "value": {"partial": True}},
        "error": "boom",
        "metrics": {"duration": 1.5},
        "state_changes": {"set": {"count": 1}, "removed": ["mode"]},
        "error_type": "app.errors.Boom",
        "traceback": TRACEBACK,
        "hash": "",
    },
    "SessionRenamed": {
        "schema_version": 1,
        "timestamp": STAMP,
        "user_id": "alice",
        "session_name": "Ärger im Büro",
        "autogenerated": True,
        "hash": "",
    },
    "SessionStateUpdated": {
        "schema_version": 1,
        "timestamp": STAMP,
        "changes": {"set": {"topic": {"name": "AI"}}, "removed": ["count"]},
        "hash": "",
    },
    "SessionDeleted": {"schema_version": 1, "timestamp": STAMP, "user_id": "alice", "hash": ""},
    "SessionForked": {
        "schema_version": 1,
        "timestamp": STAMP,
        "user_id": "alice",
        "source_session_id": "session_000",
        "source_version": 7,
        "source_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "hash": "",
    },
    "StepAttemptFailed": {
        "schema_version": 1,
        "timestamp": STAMP,
        "user_id": "alice",
        "run_id": "run-2",
        "step_index": 1,
        "step_name": "fetch",
        "attempt": 2,
        "max_retries": 3,
        "error": "timed out",
        "error_type": "TimeoutError",
        "traceback": TRACEBACK,
        "metrics": {"duration": 0.5},
        "hash": "",
    },
    "RunResumed": {
        "schema_version": 1,
        "timestamp": STAMP,
        "user_id": "alice",
        "run_id": "run-2",
        "step_index": 1,
        "resumption": 2,
        "hash": "",
    },
}
_COMPACT_DEFAULTS: list[dict[str, Any]] = [
    {
        "schema_version": 3,
        "timestamp": STAMP,
        "run_id": "r",
        "step_index": 2,
        "input": {"type": "null", "value": None},
        "content": {"type": "null", "value": None},
        "hash": "",
    },
    {"schema_version": 2, "timestamp": STAMP, "run_id": "r", "status": "COMPLETED", "hash": ""},
]

PINNED = [(event, topic, _COMPACT[type(event).__name__]) for event, topic, _ in _PINNED]
PINNED_DEFAULTS = [
    (event, payload)
    for (event, _), payload in zip(_PINNED_DEFAULTS, _COMPACT_DEFAULTS, strict=True)
]


def _id(item: tuple[SessionEvent, Any, Any]) -> str:
    return type(item[0]).__name__


@pytest.mark.parametrize(("event", "topic", "payload"), PINNED, ids=[_id(p) for p in PINNED])
class TestPinnedEvent:
    """Each event class against its hand-written stored form."""

    def test_stores_its_topic(self, event: SessionEvent, topic: str, payload: Any) -> None:
        assert to_stored(event).topic == topic
        assert type(event).topic() == topic

    def test_stores_exactly_the_pinned_payload(
        self, event: SessionEvent, topic: str, payload: dict[str, Any]
    ) -> None:
        assert json.loads(to_stored(event).state) == payload

    def test_stores_compact_bytes_in_field_order(
        self, event: SessionEvent, topic: str, payload: dict[str, Any]
    ) -> None:
        """Declared field order, no spaces, UTF-8: one event always gives the same bytes."""
        assert to_stored(event).state == encode_json(payload)

    def test_keeps_stream_position_in_columns(
        self, event: SessionEvent, topic: str, payload: Any
    ) -> None:
        record = to_stored(event)
        assert record.originator_id == "session_123"
        assert record.originator_version == event.version

    def test_reads_back_equal(self, event: SessionEvent, topic: str, payload: Any) -> None:
        assert from_stored(to_stored(event)) == event


@pytest.mark.parametrize(
    ("event", "topic", "payload"),
    WRITTEN_BY_VERSION_1,
    ids=[_id(p) for p in WRITTEN_BY_VERSION_1],
)
def test_reads_what_version_1_wrote_as_the_same_event(
    event: SessionEvent, topic: str, payload: dict[str, Any]
) -> None:
    assert from_stored(_record(topic, payload, version=event.version)) == event


@pytest.mark.parametrize(
    ("event", "payload"),
    DEFAULTS_WRITTEN_BY_VERSION_1,
    ids=[_id((e, p, None)) for e, p in DEFAULTS_WRITTEN_BY_VERSION_1],
)
def test_reads_what_version_1_wrote_with_every_default(
    event: SessionEvent, payload: dict[str, Any]
) -> None:
    assert from_stored(_record(event.topic(), payload, event.version, event.session_id)) == event


@pytest.mark.parametrize(
    ("event", "payload"), PINNED_DEFAULTS, ids=[_id((e, p, None)) for e, p in PINNED_DEFAULTS]
)
def test_stores_default_fields(event: SessionEvent, payload: dict[str, Any]) -> None:
    assert json.loads(to_stored(event).state) == payload
    assert from_stored(to_stored(event)) == event


def test_every_event_class_is_pinned() -> None:
    """A new event class must get a sample in PINNED before it can be stored."""
    assert {type(event) for event, _, _ in PINNED} == set(EVENT_CLASSES)
    assert len(PINNED) == len(EVENT_CLASSES)


def test_event_classes_have_distinct_topics() -> None:
    topics = [cls.topic() for cls in EVENT_CLASSES]
    assert len(set(topics)) == len(topics)


def test_stores_non_ascii_as_utf8_not_escapes() -> None:
    record = to_stored(PINNED[4][0])
    assert "Ärger im Büro".encode() in record.state
    assert b"\\u" not in record.state


def test_pins_the_bytes_of_a_tombstone() -> None:
    record = to_stored(PINNED[6][0])
    assert record.state == (
        b'{"schema_version":1,"timestamp":"2024-11-19T14:30:05.123456Z","user_id":"alice",'
        b'"hash":""}'
    )


def _record(
    topic: str, payload: dict[str, Any], version: int = 1, session_id: str = "session_123"
) -> StoredEvent:
    return StoredEvent(
        originator_id=session_id,
        originator_version=version,
        topic=topic,
        state=encode_json(payload),
    )


def test_refuses_an_unknown_topic() -> None:
    record = _record("kern.domain.events:SessionArchived", {"schema_version": 1})
    with pytest.raises(StoreError, match=r"unknown event topic.*SessionArchived.*session_123"):
        from_stored(record)


def test_refuses_a_payload_missing_a_required_field() -> None:
    payload = {"schema_version": 1, "timestamp": STAMP, "user_id": "alice"}
    record = _record("kern.domain.events:SessionRenamed", payload, version=5)
    with pytest.raises(StoreError, match=r"version 5 of session 'session_123'"):
        from_stored(record)


def test_refuses_a_payload_that_is_not_json() -> None:
    record = StoredEvent(
        originator_id="session_123",
        originator_version=2,
        topic="kern.domain.events:SessionDeleted",
        state=b"\xff not json",
    )
    with pytest.raises(StoreError):
        from_stored(record)


def test_reads_an_event_stored_under_an_aliased_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    """An event class renamed with a registered alias still loads its old records."""
    monkeypatch.setitem(events.TOPIC_ALIASES, "kern.domain.events:SessionNamed", SessionRenamed)
    event, _, payload = PINNED[4]
    loaded = from_stored(_record("kern.domain.events:SessionNamed", payload, version=5))
    assert loaded == event
    assert to_stored(loaded).topic == "kern.domain.events:SessionRenamed"


def test_ignores_the_stored_schema_version_when_reading() -> None:
    event, topic, payload = PINNED[6]
    assert from_stored(_record(topic, {**payload, "schema_version": 1}, version=7)) == event
    assert from_stored(_record(topic, {"timestamp": STAMP, "user_id": "alice"}, 7)) == event


def test_an_imported_event_stores_where_it_came_from_after_the_other_provenance() -> None:
    """``imported_from`` came after the other provenance fields, with a default of
    None that is left out: an event without it stores the bytes Kern stored before."""
    when = WHEN
    plain = SessionRenamed(
        session_id="session_123",
        version=2,
        timestamp=when,
        provenance=Provenance(kern_version="0.1.0"),
        session_name="Errands",
    )
    imported = SessionRenamed(
        session_id="session_123",
        version=2,
        timestamp=when,
        provenance=Provenance(kern_version="0.1.0", imported_from="agno:agno_sessions"),
        session_name="Errands",
    )
    assert to_stored(plain).state == (
        b'{"schema_version":1,"timestamp":"2024-11-19T14:30:05.123456Z",'
        b'"provenance":{"kern_version":"0.1.0"},"session_name":"Errands","hash":""}'
    )
    assert to_stored(imported).state == (
        b'{"schema_version":1,"timestamp":"2024-11-19T14:30:05.123456Z",'
        b'"provenance":{"kern_version":"0.1.0","imported_from":"agno:agno_sessions"},'
        b'"session_name":"Errands","hash":""}'
    )
    assert from_stored(to_stored(imported)) == imported
    assert from_stored(to_stored(plain)).provenance.imported_from is None
