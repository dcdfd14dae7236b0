"""The live event stream, over a real socket: new events arrive as they are
recorded, a reconnect resumes at Last-Event-ID, and the tombstone ends it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kern.db import KernDb
from kern.web import create_app
from kern.workflow import Workflow
from tests.conftest import echo
from tests.web.conftest import USER_HEADER, Seeded, as_user
from tests.web.server import open_stream, serving

DEADLINE = 30.0


def sse_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """The next ``count`` events of a server-sent event stream (id, event, data)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if current:
                events.append(current)
                current = {}
                if len(events) == count:
                    return events
            continue
        field, _, value = line.partition(": ")
        current[field] = json.loads(value) if field == "data" else value
    raise AssertionError(f"the stream ended after {len(events)} of {count} events")


def record_later(db: KernDb, session_id: str, user_id: str, text: str) -> threading.Thread:
    """A run recorded by another thread shortly after the stream is open."""

    def run() -> None:
        time.sleep(0.3)
        Workflow(name="Pipeline", steps=[echo], db=db).run(
            input=text, session_id=session_id, user_id=user_id
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_new_events_arrive_as_they_are_recorded(seeded: Seeded) -> None:
    app = create_app(seeded.db, admin=True, poll_interval=0.05)
    head = seeded.db.head_version("alice-s")
    assert head is not None
    with serving(app) as base, open_stream(base, "/api/sessions/alice-s/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        writer = record_later(seeded.db, "alice-s", "alice", "live question")
        # RunStarted, StepCompleted, RunCompleted of the new run.
        events = sse_events(response.iter_lines(), 3)
        writer.join()
    assert [e["id"] for e in events] == [str(head + 1), str(head + 2), str(head + 3)]
    assert [e["event"] for e in events] == ["kern-event"] * 3
    kinds = [e["data"]["event_type"] for e in events]
    assert kinds == ["RunStarted", "StepCompleted", "RunCompleted"]
    assert events[0]["data"]["payload"]["input"]["value"] == "live question"
    expected = [entry.to_json() for entry in seeded.db.get_log("alice-s")[head : head + 3]]
    assert [e["data"] for e in events] == expected


def test_a_reconnect_resumes_after_the_last_event_seen(seeded: Seeded) -> None:
    app = create_app(seeded.db, admin=True, poll_interval=0.05)
    with serving(app) as base:
        headers = {"Last-Event-ID": "4"}
        with open_stream(base, "/api/sessions/alice-s/stream", headers) as response:
            events = sse_events(response.iter_lines(), 2)
        with open_stream(base, "/api/sessions/alice-s/stream?after=0") as response:
            first = sse_events(response.iter_lines(), 1)
    assert [e["id"] for e in events] == ["5", "6"]
    assert first[0]["data"]["event_type"] == "SessionStarted"


def test_the_tombstone_ends_the_stream(seeded: Seeded) -> None:
    app = create_app(seeded.db, admin=True, poll_interval=0.05)
    head = seeded.db.head_version("bob-s")
    with serving(app) as base, open_stream(base, "/api/sessions/bob-s/stream") as response:
        threading.Timer(0.3, seeded.db.delete_session, ("bob-s",)).start()
        lines = list(response.iter_lines())  # ends: the server closes the stream
    data = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]
    assert [d["event_type"] for d in data] == ["SessionDeleted"]
    assert data[0]["version"] == (head or 0) + 1


def test_a_scoped_stream_is_the_users_own(seeded: Seeded) -> None:
    app = create_app(seeded.db, user=lambda request: request.headers.get(USER_HEADER))
    with serving(app) as base, httpx.Client(base_url=base, timeout=DEADLINE) as client:
        theirs = client.get("/api/sessions/bob-s/stream", headers=as_user("alice"))
        assert theirs.status_code == 404
        assert theirs.json()["error"]["type"] == "SessionNotFoundError"
        headers = {**as_user("bob"), "Last-Event-ID": "x"}
        bad = client.get("/api/sessions/bob-s/stream", headers=headers)
        assert bad.status_code == 400
        assert "Last-Event-ID" in bad.json()["error"]["message"]


@pytest.mark.parametrize("poll_interval", [0.05])
def test_a_closed_client_stops_the_server_polling(seeded: Seeded, poll_interval: float) -> None:
    calls = 0
    real = seeded.db.get_log

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    seeded.db.get_log = counted  # type: ignore[method-assign]
    app = create_app(seeded.db, admin=True, poll_interval=poll_interval)
    with serving(app) as base:
        with open_stream(base, "/api/sessions/alice-s/stream") as response:
            next(response.iter_lines())
        deadline = time.monotonic() + DEADLINE
        settled = -1
        # Polling stops once the server sees the client gone: the count settles.
        while time.monotonic() < deadline:
            before = calls
            time.sleep(poll_interval * 10)
            if calls == before:
                settled = calls
                break
    assert settled >= 1, "the server kept polling after the client went away"


def test_the_stream_of_a_deleted_session_ends_after_what_it_missed(seeded: Seeded) -> None:
    seeded.db.delete_session("bob-s")
    app = create_app(seeded.db, admin=True, poll_interval=0.05)
    with serving(app) as base:
        with open_stream(base, "/api/sessions/bob-s/stream") as response:
            assert [line for line in response.iter_lines() if line.startswith("data")] == []
        with open_stream(base, "/api/sessions/bob-s/stream?after=0") as response:
            data = [line for line in response.iter_lines() if line.startswith("data")]
    kinds = [json.loads(line[len("data: ") :])["event_type"] for line in data]
    assert kinds[0] == "SessionStarted" and kinds[-1] == "SessionDeleted"
    assert len(kinds) == seeded.db.head_version("bob-s")
