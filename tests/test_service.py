"""The service of docs/services.md, driven over HTTP in-process, on every store.

The app is built from the page's own python blocks (the service, not the
wiring or the demo), so the documented code is the code under test. Requests
go through httpx's ASGI transport, many at once on one Workflow object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.test_docs import code_blocks

SERVICE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "services.md"
USERS = [f"user-{n}" for n in range(5)]
REQUESTS = 200

# The stores the service is tested on: the db the service runs on, and a sync
# db on the same data for the test to read it back after the event loop ended.
DB_FACTORIES: dict[str, Callable[[Path], tuple[KernDb | AsyncKernDb, KernDb]]] = {
    "memory": lambda tmp: (db := InMemoryDb(), db),
    "sqlite": lambda tmp: (db := SqliteDb(db_file=str(tmp / "s.db")), db),
    "AsyncSqliteDb": lambda tmp: (
        AsyncSqliteDb(db_file=str(tmp / "s.db")),
        SqliteDb(db_file=str(tmp / "s.db")),
    ),
}


def service_module() -> types.ModuleType:
    """The page's service blocks (those before the one that wires an app), executed."""
    module = types.ModuleType("kern_service_under_test")
    sys.modules[module.__name__] = module
    for block in code_blocks(SERVICE_PAGE.read_text(encoding="utf-8")):
        if block.language != "python":
            continue
        if "create_app(workflow)" in block.code:
            break
        source = "\n" * block.line + block.code
        exec(compile(source, str(SERVICE_PAGE), "exec"), module.__dict__)
    return module


SERVICE = service_module()


@dataclass
class SseMessage:
    """One server-sent event as the client parsed it."""

    id: int
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[SseMessage]:
    """The messages of a text/event-stream body (each: id, event, one data line)."""
    messages = []
    for chunk in text.split("\n\n"):
        if not chunk.strip():
            continue
        fields = dict(line.split(": ", 1) for line in chunk.splitlines())
        messages.append(SseMessage(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return messages


Service = Callable[[list[Any]], tuple[Workflow, httpx.AsyncClient]]


@pytest.fixture(params=list(DB_FACTORIES))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, KernDb]]:
    """The service's db and a sync reader of the same data."""
    served, reader = DB_FACTORIES[request.param](tmp_path)
    yield served, reader
    if isinstance(served, AsyncKernDb):
        asyncio.run(served.close())
    reader.close()


@pytest.fixture
def db(stores: tuple[Any, KernDb]) -> KernDb:
    """Where the test reads back what the service recorded."""
    return stores[1]


@pytest.fixture
def service(stores: tuple[Any, KernDb]) -> Service:
    """A Workflow of the given steps on the service's db, and a client of its app."""

    def build(steps: list[Any]) -> tuple[Workflow, httpx.AsyncClient]:
        workflow = Workflow(name="Service test", db=stores[0], steps=steps)
        transport = httpx.ASGITransport(app=SERVICE.create_app(workflow))
        return workflow, httpx.AsyncClient(transport=transport, base_url="http://service")

    return build


def as_user(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


async def echo(step_input: StepInput) -> str:
    """An async step that lets other tasks run before it answers."""
    await asyncio.sleep(0)
    return f"echo {step_input.input}"


def shout(step_input: StepInput) -> str:
    """A sync step: the service runs it in a worker thread."""
    return str(step_input.previous_step_content).upper()


def drive(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


# -- many users, one Workflow -------------------------------------------------------


def request_plan() -> list[tuple[str, str | None]]:
    """(user, session_id or None): every third request starts a new session."""
    plan: list[tuple[str, str | None]] = []
    for n in range(REQUESTS):
        user = USERS[n % len(USERS)]
        plan.append((user, None if n % 3 == 0 else f"{user}-session-{n % 2}"))
    return plan


def test_concurrent_runs_of_many_users_are_each_recorded_once_in_their_own_session(
    service: Service, db: KernDb
) -> None:
    """200 concurrent POST /runs of 5 users on one Workflow: no run lost, doubled or misfiled."""
    workflow, client = service([echo, shout])
    plan = request_plan()

    async def scenario() -> None:
        async with client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/runs",
                        json={"input": f"{user}/{n}", "session_id": session_id},
                        headers=as_user(user),
                    )
                    for n, (user, session_id) in enumerate(plan)
                )
            )
        assert [r.status_code for r in responses] == [200] * REQUESTS
        for (_, session_id), response in zip(plan, responses, strict=True):
            body = response.json()
            assert body["status"] == "COMPLETED"
            assert session_id is None or body["session_id"] == session_id

    drive(scenario)
    assert workflow.session_id is None  # never pinned on the shared object
    runs_per_user: Counter[str] = Counter()
    run_ids = []
    for session in db.get_sessions():
        for run in session.runs or []:
            assert str(run.input).startswith(f"{session.user_id}/")
            assert run.status == RunStatus.completed
            runs_per_user[session.user_id or ""] += 1
            run_ids.append(run.run_id)
    assert len(run_ids) == len(set(run_ids)) == REQUESTS
    assert runs_per_user == Counter(user for user, _ in plan)


def test_a_user_never_sees_or_writes_another_users_session(service: Service, db: KernDb) -> None:
    """Another user's session reads as a missing one, is never listed and refuses runs."""
    _, client = service([echo])

    async def scenario() -> None:
        async with client:
            alice, bob = as_user("alice"), as_user("bob")
            made = await client.post("/runs", json={"input": "a"}, headers=alice)
            theirs = made.json()["session_id"]
            await client.post("/runs", json={"input": "b"}, headers=bob)

            other = await client.get(f"/sessions/{theirs}", headers=bob)
            missing = await client.get("/sessions/never-made", headers=bob)
            assert (other.status_code, missing.status_code) == (404, 404)
            assert other.content == missing.content
            intrusion = await client.post(
                "/runs", json={"input": "x", "session_id": theirs}, headers=bob
            )
            assert (intrusion.status_code, intrusion.json()) == (404, missing.json())
            listed = (await client.get("/sessions", headers=bob)).json()
            assert [s["user_id"] for s in listed] == ["bob"]
            own = await client.get(f"/sessions/{theirs}", headers=alice)
            assert own.status_code == 200 and len(own.json()["runs"]) == 1

    drive(scenario)
    alices = db.get_sessions(user_id="alice")
    assert [len(s.runs or []) for s in alices] == [1]


# -- streaming --------------------------------------------------------------------------


def stream_run(client: httpx.AsyncClient, user: str, session_id: str) -> Awaitable[httpx.Response]:
    body = {"input": "topic", "session_id": session_id, "stream": True}
    return client.post("/runs", json=body, headers=as_user(user))


def test_a_streamed_run_sends_its_events_in_order_as_sse(service: Service) -> None:
    """Each message: id = the version, event = Agno's name, data = to_dict()."""
    _, client = service([echo, shout])

    async def scenario() -> None:
        async with client:
            response = await stream_run(client, "alice", "streamed")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = parse_sse(response.text)
        assert [m.event for m in messages] == [
            "WorkflowStarted",
            *["StepStarted", "StepCompleted"] * 2,
            "WorkflowCompleted",
        ]
        assert all(m.id == m.data["version"] and m.event == m.data["event"] for m in messages)
        ids = [m.id for m in messages]
        assert ids == sorted(ids)
        stored = [m.id for m in messages if m.event != "StepStarted"]
        assert stored == sorted(set(stored)), "each stored event has a version of its own"
        assert messages[-1].data["content"] == "ECHO TOPIC"

    drive(scenario)


def test_resuming_with_last_event_id_sends_every_remaining_event(service: Service) -> None:
    """From any cut: the rest, as sent; a StepStarted that shares the cut's id may come
    again (at least once, never lost)."""
    _, client = service([echo, shout])

    async def scenario() -> None:
        async with client:
            live = parse_sse((await stream_run(client, "alice", "resumed")).text)
            run_id = live[0].data["run_id"]
            url = f"/sessions/resumed/runs/{run_id}/events"
            for cut, message in enumerate(live):
                headers = {**as_user("alice"), "Last-Event-ID": str(message.id)}
                resumed = parse_sse((await client.get(url, headers=headers)).text)
                rest = live[cut + 1 :]
                again = resumed[: len(resumed) - len(rest)]
                assert resumed[len(resumed) - len(rest) :] == rest, f"after id {message.id}"
                assert all(m.event == "StepStarted" and m.id == message.id for m in again)
            other = await client.get(url, headers={**as_user("bob"), "Last-Event-ID": "0"})
            assert other.status_code == 404

    drive(scenario)


# -- cancelling -------------------------------------------------------------------------


def test_delete_cancels_a_slow_run_of_its_own_user(service: Service, db: KernDb) -> None:
    """DELETE /runs/{id} while a step waits: the run stops before its next step, CANCELLED."""
    entered, release = asyncio.Event(), asyncio.Event()
    later_steps: list[str] = []

    async def slow(step_input: StepInput) -> str:
        entered.set()
        await release.wait()
        return "slow done"

    def after(step_input: StepInput) -> str:
        later_steps.append("ran")
        return "after"

    _, client = service([slow, after])

    async def scenario() -> None:
        async with client:
            body = {"input": "wait", "session_id": "slow"}
            running = asyncio.create_task(client.post("/runs", json=body, headers=as_user("ann")))
            await entered.wait()
            [run] = (await client.get("/sessions/slow", headers=as_user("ann"))).json()["runs"]
            stranger = await client.delete(f"/runs/{run['run_id']}", headers=as_user("bob"))
            assert stranger.status_code == 404
            cancelled = await client.delete(f"/runs/{run['run_id']}", headers=as_user("ann"))
            assert cancelled.status_code == 202
            release.set()
            response = await running
            assert response.json()["status"] == "CANCELLED"
            again = await client.delete(f"/runs/{run['run_id']}", headers=as_user("ann"))
            assert again.status_code == 404, "a finished run is no longer in flight"

    drive(scenario)
    [session] = db.get_sessions(user_id="ann")
    assert [r.status for r in session.runs or []] == [RunStatus.cancelled]
    assert later_steps == []


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "named"),
    [
        (as_user("ann"), {"input": "x", "session_id": " "}, "session_id"),
        (as_user("ann"), {"input": "x", "session_id": "s" * 300}, "session_id is too long"),
        (as_user("u" * 300), {"input": "x"}, "user_id is too long"),
        (as_user("ann"), {"input": "x", "session_id": " ", "stream": True}, "session_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_problem_and_records_nothing(
    service: Service, db: KernDb, headers: dict[str, str], body: dict[str, Any], named: str
) -> None:
    _, client = service([echo])

    async def scenario() -> None:
        async with client:
            response = await client.post("/runs", json=body, headers=headers)
        assert response.status_code == 422
        assert named in response.json()["detail"]

    drive(scenario)
    assert db.get_sessions() == []


def test_resuming_between_a_stored_event_and_the_step_started_that_shares_its_id(
    service: Service,
) -> None:
    """Cut after WorkflowStarted, before the first StepStarted: that StepStarted comes next."""
    _, client = service([echo])

    async def scenario() -> None:
        async with client:
            live = parse_sse((await stream_run(client, "alice", "cut")).text)
            assert [m.event for m in live[:2]] == ["WorkflowStarted", "StepStarted"]
            url = f"/sessions/cut/runs/{live[0].data['run_id']}/events"
            headers = {**as_user("alice"), "Last-Event-ID": str(live[0].id)}
            resumed = parse_sse((await client.get(url, headers=headers)).text)
            assert resumed == live[1:]

    drive(scenario)


# -- a client that goes away -------------------------------------------------------------


async def post_and_leave(app: Any, body: dict[str, Any], user: str, leave_after: bytes) -> None:
    """POST ``body`` as raw ASGI and disconnect once a body chunk holds ``leave_after``
    (httpx's ASGI transport reads whole responses, so it cannot leave early)."""
    gone = asyncio.Event()
    requests = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if leave_after in message.get("body", b""):
            gone.set()

    headers = [(b"content-type", b"application/json"), (b"x-user-id", user.encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/runs",
        "raw_path": b"/runs",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("service", 80),
        "client": ("client", 1),
    }
    await app(scope, receive, send)


def test_a_client_that_leaves_a_stream_leaves_its_run_cancelled(
    stores: tuple[Any, KernDb], db: KernDb
) -> None:
    """The step awaited when the client left is cancelled with the run: CANCELLED, no later
    step, and recorded by the time the response has ended."""
    entered = asyncio.Event()
    later: list[str] = []

    async def slow(step_input: StepInput) -> str:
        entered.set()
        await asyncio.sleep(60)
        return "slow done"

    def after(step_input: StepInput) -> str:
        later.append("ran")
        return "after"

    workflow = Workflow(name="Service test", db=stores[0], steps=[slow, after])
    app = SERVICE.create_app(workflow)

    async def scenario() -> None:
        body = {"input": "x", "session_id": "left", "stream": True}
        await asyncio.wait_for(post_and_leave(app, body, "ann", leave_after=b"StepStarted"), 30)
        assert entered.is_set()

    drive(scenario)
    session = db.get_session("left", "ann")
    assert session is not None and session.runs is not None
    [run] = session.runs
    assert run.status == RunStatus.cancelled
    assert [(s.step_name, s.success) for s in run.step_results] == [("slow", False)]
    assert later == []
