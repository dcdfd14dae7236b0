"""``Workflow.arun``, streamed run events and cancellation, on every store.

Each test drives its calls in one event loop (``drive``), on a db of each
kind: the sync stores (arun runs their calls in a worker thread), the
in-memory store (on the loop) and the async stores (on the loop, waiting
through it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.postgres import AsyncPostgresDb
from kern.db.sqlite import AsyncSqliteDb
from kern.domain.events import RunCompleted, StepCompleted
from kern.errors import AsyncStoreError, InvalidInputError, RunAlreadyStartedError
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.conftest import POSTGRES_URL, echo, failing, postgres_table, shout
from tests.contract.conftest import make_db

AnyDb = KernDb | AsyncKernDb

ARUN_STORES = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "AsyncSqliteDb",
    pytest.param("AsyncPostgresDb", marks=pytest.mark.postgres),
]


@pytest.fixture(params=ARUN_STORES)
def adb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyDb]:
    """A fresh store of each kind, as arun's callers hold it (the async stores as
    themselves: each test uses one on the loop it runs, and closes it there)."""
    kind = str(request.param)
    db: AnyDb
    if kind == "AsyncSqliteDb":
        db = AsyncSqliteDb(tmp_path / "kern.db")
    elif kind == "AsyncPostgresDb":
        schema = request.getfixturevalue("postgres_schema")
        db = AsyncPostgresDb(POSTGRES_URL, postgres_table(), schema)
    else:
        db = make_db(kind, tmp_path, request)
    yield db
    if isinstance(db, KernDb):
        db.close()


def drive(db: AnyDb, body: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``body`` in a new event loop, closing an async db in that same loop."""

    async def main() -> Any:
        try:
            return await body()
        finally:
            if isinstance(db, AsyncKernDb):
                await db.close()

    return asyncio.run(main())


async def fetch(step_input: StepInput) -> str:
    """An async step: it awaits, then answers."""
    await asyncio.sleep(0.001)
    return f"fetched {step_input.input}"


class Summariser:
    """An agent-like step with ``arun`` only."""

    name = "summariser"
    id = "summariser-1"

    async def arun(self, message: Any) -> Any:
        await asyncio.sleep(0)
        return type("Response", (), {"content": f"summary of {message}"})()


# -- running ---------------------------------------------------------------------


def test_arun_awaits_async_steps_and_agents_and_records_the_run(adb: AnyDb) -> None:
    """An async def step, an agent with arun only and a sync step, in one run."""
    workflow = Workflow(name="Mixed", db=adb, steps=[fetch, shout, Summariser()])

    async def body() -> Any:
        result = await workflow.arun(input="news", session_id="s1", user_id="u1")
        return result, await workflow.aget_session("s1", "u1")

    result, session = drive(adb, body)
    assert result.status == RunStatus.completed
    assert result.content == "summary of FETCHED NEWS"
    assert session is not None and session.runs is not None
    (run,) = session.runs
    assert run.run_id == result.run_id
    assert [s.content for s in run.step_results] == [
        "fetched news",
        "FETCHED NEWS",
        "summary of FETCHED NEWS",
    ]
    assert [s.step_type for s in run.step_results] == ["function", "function", "agent"]


def test_arun_records_what_run_records(adb: AnyDb) -> None:
    """The same workflow run with run (sync store) and arun: the same event kinds,
    step contents, state and history."""

    def count(step_input: StepInput) -> str:
        step_input.session_state["n"] = step_input.session_state.get("n", 0) + 1
        return f"{step_input.get_workflow_history_context()}|{step_input.input}"

    def build(db: AnyDb) -> Workflow:
        return Workflow(
            name="Same", db=db, steps=[count, shout], add_workflow_history_to_steps=True
        )

    reference = InMemoryDb()
    for word in ("one", "two"):
        build(reference).run(input=word, session_id="s1", user_id="u1")

    async def body() -> Any:
        workflow = build(adb)
        for word in ("one", "two"):
            await workflow.arun(input=word, session_id="s1", user_id="u1")
        return await workflow.aget_session("s1", "u1")

    session = drive(adb, body)
    expected = reference.get_session("s1", "u1")
    assert session is not None and expected is not None
    assert session.session_state == expected.session_state == {"n": 2}
    assert [[s.content for s in r.step_results] for r in session.runs or []] == [
        [s.content for s in r.step_results] for r in expected.runs or []
    ]


def test_sync_steps_run_off_the_loop_and_async_steps_on_it(adb: AnyDb) -> None:
    """A sync step never runs on the loop's thread; an async one runs in the loop."""
    seen: dict[str, str] = {}

    def blocking(step_input: StepInput) -> str:
        seen["sync"] = threading.current_thread().name
        return "done"

    async def awaiting(step_input: StepInput) -> str:
        seen["async"] = "loop" if asyncio.get_running_loop() else "none"
        return "done"

    workflow = Workflow(name="Threads", db=adb, steps=[blocking, awaiting])

    async def body() -> str:
        await workflow.arun(input="x", session_id="s1")
        return threading.current_thread().name

    loop_thread = drive(adb, body)
    assert seen["sync"] != loop_thread
    assert seen["async"] == "loop"


def test_an_async_step_that_raises_ends_the_run_as_error(adb: AnyDb) -> None:
    async def broken(step_input: StepInput) -> str:
        raise ValueError("the model timed out")

    workflow = Workflow(name="Broken", db=adb, steps=[echo, failing(broken), shout])

    async def body() -> Any:
        with pytest.raises(ValueError, match="the model timed out"):
            await workflow.arun(input="x", session_id="s1", run_id="r1")
        return await workflow.aget_run("r1", "s1")

    run = drive(adb, body)
    assert run is not None
    assert run.status == RunStatus.error
    assert run.error == "the model timed out"
    assert [s.success for s in run.step_results] == [True, False]


def test_invalid_input_to_arun_raises_at_the_call_and_records_nothing(adb: AnyDb) -> None:
    workflow = Workflow(name="Checked", db=adb, steps=[echo])

    async def body() -> Any:
        with pytest.raises(InvalidInputError, match="session_state"):
            await workflow.arun(input="x", session_id="s1", session_state="not a dict")  # type: ignore[call-overload]
        with pytest.raises(InvalidInputError, match="session_id"):
            await workflow.arun(input="x", session_id="")
        return await workflow.aget_session("s1")

    assert drive(adb, body) is None


# -- run refuses what only arun can do ---------------------------------------------


def test_run_refuses_an_async_step_before_recording_anything() -> None:
    workflow = Workflow(name="Async only", steps=[echo, fetch])
    with pytest.raises(AsyncStoreError, match=r"step 'fetch' is async.*arun"):
        workflow.run(input="x", session_id="s1")
    assert workflow.get_session("s1") is None


def test_run_refuses_an_agent_with_arun_only() -> None:
    workflow = Workflow(name="Agent", steps=[Summariser()])
    with pytest.raises(AsyncStoreError, match="summariser"):
        workflow.run(input="x", session_id="s1")
    assert workflow.get_session("s1") is None


def test_a_sync_step_that_returns_a_coroutine_fails_its_run_under_run() -> None:
    """It is recorded as a failed step, with no "never awaited" warning (warnings are errors)."""

    def sneaky(step_input: StepInput) -> Any:
        return fetch(step_input)

    workflow = Workflow(name="Sneaky", steps=[sneaky])
    with pytest.raises(AsyncStoreError, match="arun"):
        workflow.run(input="x", session_id="s1", run_id="r1")
    run = workflow.get_run("r1", "s1")
    assert run is not None and run.status == RunStatus.error


def test_arun_awaits_what_a_sync_step_returns_when_it_is_awaitable() -> None:
    def sneaky(step_input: StepInput) -> Any:
        return fetch(step_input)

    workflow = Workflow(name="Sneaky", steps=[sneaky])
    result = asyncio.run(workflow.arun(input="x", session_id="s1"))
    assert result.content == "fetched x"


# -- streaming ---------------------------------------------------------------------


def test_run_with_stream_yields_agno_events_as_they_are_stored() -> None:
    workflow = Workflow(name="Streamed", steps=[echo, shout])
    events = list(workflow.run(input="hi", session_id="s1", run_id="r1", stream=True))
    assert [e.event for e in events] == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "StepCompleted",
        "WorkflowCompleted",
    ]
    assert [getattr(e, "content", None) for e in events][-1] == "ECHO: HI"
    stored = {e.version: e for e in workflow.db.get_events("s1")}  # type: ignore[union-attr]
    for event in events:
        if event.event == "StepCompleted":
            assert isinstance(stored[event.version], StepCompleted)
        if event.event == "WorkflowCompleted":
            assert isinstance(stored[event.version], RunCompleted)
    versions = [e.version for e in events]
    assert versions == sorted(versions)
    assert all(e.run_id == "r1" and e.session_id == "s1" for e in events)


def test_a_stream_read_again_from_the_log_matches_the_live_one(adb: AnyDb) -> None:
    """get_run_events replays the stream; after=v gives what follows version v."""
    workflow = Workflow(name="Replayed", db=adb, steps=[echo, fetch, shout])

    async def body() -> Any:
        stream = workflow.arun(input="q", session_id="s1", run_id="r1", stream=True)
        live = [e async for e in stream]
        replayed = await workflow.aget_run_events("r1", "s1")
        resumed = await workflow.aget_run_events("r1", "s1", after=live[2].version)
        return live, replayed, resumed

    live, replayed, resumed = drive(adb, body)
    shape = [(e.event, e.version, getattr(e, "step_name", None)) for e in live]
    assert [(e.event, e.version, getattr(e, "step_name", None)) for e in replayed] == shape
    assert [e.to_dict()["content"] for e in replayed if e.event == "StepCompleted"] == [
        "echo: q",
        "fetched q",
        "FETCHED Q",
    ]
    seen = live[2].version  # the first StepCompleted
    assert resumed == [
        e for e in replayed if e.version > seen or (e.event == "StepStarted" and e.version == seen)
    ]
    assert resumed[0].event == "StepStarted"
    assert resumed[-1].event == "WorkflowCompleted"


def test_stream_events_are_json_ready() -> None:
    workflow = Workflow(name="Json", steps=[echo])
    for event in workflow.run(input={"q": 1}, session_id="s1", stream=True):
        data = event.to_dict()
        assert data["event"] == event.event and data["version"] == event.version


def test_leaving_a_sync_stream_early_records_the_run_cancelled() -> None:
    workflow = Workflow(name="Left", steps=[echo, shout, echo])
    stream = workflow.run(input="x", session_id="s1", run_id="r1", stream=True)
    for event in stream:
        if event.event == "StepCompleted":
            break
    stream.close()
    run = workflow.get_run("r1", "s1")
    assert run is not None and run.status == RunStatus.cancelled
    assert [s.content for s in run.step_results] == ["echo: x"]


def test_leaving_an_async_stream_early_records_the_run_cancelled(adb: AnyDb) -> None:
    workflow = Workflow(name="Left", db=adb, steps=[echo, fetch, shout])

    async def body() -> Any:
        stream = workflow.arun(input="x", session_id="s1", run_id="r1", stream=True)
        async for event in stream:
            if event.event == "StepCompleted":
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return await workflow.aget_run("r1", "s1")

    run = drive(adb, body)
    assert run is not None and run.status == RunStatus.cancelled
    assert [s.content for s in run.step_results] == ["echo: x"]


def test_an_error_is_streamed_then_raised(adb: AnyDb) -> None:
    async def broken(step_input: StepInput) -> str:
        raise RuntimeError("no answer")

    workflow = Workflow(name="Broken", db=adb, steps=[failing(broken)])

    async def body() -> list[Any]:
        seen: list[Any] = []
        with pytest.raises(RuntimeError, match="no answer"):
            async for event in workflow.arun(input="x", session_id="s1", stream=True):
                seen.append(event)
        return seen

    seen = drive(adb, body)
    assert [e.event for e in seen] == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "WorkflowError",
    ]
    assert seen[-1].error == "no answer" and seen[-1].error_type == "RuntimeError"


# -- cancellation ------------------------------------------------------------------


def test_cancelling_the_task_records_the_run_cancelled_and_keeps_earlier_steps(
    adb: AnyDb,
) -> None:
    reached = asyncio.Event()

    async def stuck(step_input: StepInput) -> str:
        reached.set()
        await asyncio.sleep(60)
        return "never"

    workflow = Workflow(name="Stuck", db=adb, steps=[echo, stuck, shout])

    async def body() -> Any:
        task = asyncio.create_task(workflow.arun(input="x", session_id="s1", run_id="r1"))
        await asyncio.wait_for(reached.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await workflow.aget_run("r1", "s1")

    run = drive(adb, body)
    assert run is not None and run.status == RunStatus.cancelled
    assert [s.step_name for s in run.step_results] == ["echo", "stuck"]
    assert run.step_results[0].content == "echo: x"
    assert run.step_results[1].success is False


def test_cancel_run_from_another_task_stops_before_the_next_step(adb: AnyDb) -> None:
    release = asyncio.Event()
    reached = asyncio.Event()

    async def gate(step_input: StepInput) -> str:
        reached.set()
        await release.wait()
        return "through"

    workflow = Workflow(name="Gated", db=adb, steps=[gate, shout, echo])

    async def body() -> Any:
        task = asyncio.create_task(workflow.arun(input="x", session_id="s1", run_id="r1"))
        await asyncio.wait_for(reached.wait(), 10)
        assert await workflow.acancel_run("r1") is True
        release.set()
        result = await task
        return result, await workflow.aget_run("r1", "s1")

    result, run = drive(adb, body)
    assert result.status == RunStatus.cancelled
    assert run is not None and run.status == RunStatus.cancelled
    assert [s.content for s in run.step_results] == ["through"]


class GatedRun:
    """A sync run in a thread of its own, held inside its first step until finish()."""

    def __init__(self, run_id: str, user_id: str | None = None) -> None:
        self.started, self.release = threading.Event(), threading.Event()

        def gate(step_input: StepInput) -> str:
            self.started.set()
            self.release.wait(10)
            return "through"

        self.workflow = Workflow(name="Gated", steps=[gate, shout])
        self.results: list[Any] = []
        self.thread = threading.Thread(
            target=lambda: self.results.append(
                self.workflow.run(input="x", session_id="s1", user_id=user_id, run_id=run_id)
            )
        )
        self.thread.start()
        assert self.started.wait(10)

    def finish(self) -> Any:
        """Let the step return; the run's output."""
        self.release.set()
        self.thread.join(10)
        (result,) = self.results
        return result


def test_cancel_run_from_another_thread_stops_a_sync_run() -> None:
    gated = GatedRun(run_id="r1")
    assert Workflow(name="Other", steps=[echo]).cancel_run("r1") is True  # any Workflow object
    result = gated.finish()
    assert result.status == RunStatus.cancelled
    assert [s.content for s in result.step_results] == ["through"]
    events = list(gated.workflow.run(input="y", session_id="s1", stream=True))
    assert events[-1].event == "WorkflowCompleted"  # the session goes on


def test_cancel_run_of_no_run_in_flight_is_false() -> None:
    workflow = Workflow(name="Idle", steps=[echo])
    workflow.run(input="x", session_id="s1", run_id="done")
    assert workflow.cancel_run("done") is False
    assert workflow.cancel_run("never-started") is False
    with pytest.raises(InvalidInputError, match="run_id"):
        workflow.cancel_run(42)  # type: ignore[arg-type]


def test_a_cancelled_stream_reports_workflow_cancelled() -> None:
    workflow = Workflow(name="Gated", steps=[echo, shout])
    stream = workflow.run(input="x", session_id="s1", run_id="r1", stream=True)
    first = next(stream)
    assert first.event == "WorkflowStarted"
    assert workflow.cancel_run("r1") is True
    rest = list(stream)
    assert rest[-1].event == "WorkflowCancelled"
    assert [e.event for e in rest].count("StepCompleted") == 0


# -- one Workflow for a whole service ---------------------------------------------------


def test_one_workflow_serves_many_users_without_session_ids(adb: AnyDb) -> None:
    """Concurrent calls without a session_id each start their own session, owned by
    their caller; nothing is pinned on the shared Workflow."""
    workflow = Workflow(name="Shared", db=adb, steps=[fetch, shout])
    users = [f"user-{n}" for n in range(5)]

    async def body() -> Any:
        calls = [workflow.arun(input=f"q{i}", user_id=users[i % 5]) for i in range(40)]
        results = await asyncio.gather(*calls)
        sessions = {u: await workflow.aget_sessions(user_id=u) for u in users}
        return results, sessions

    results, sessions = drive(adb, body)
    assert workflow.session_id is None
    assert len({r.session_id for r in results}) == 40
    assert all(r.status == RunStatus.completed for r in results)
    for user in users:
        mine = {r.session_id for r in results if r.user_id == user}
        assert {s.session_id for s in sessions[user]} == mine
        assert all(s.user_id == user for s in sessions[user])


def test_threads_sharing_a_workflow_never_land_in_each_others_sessions() -> None:
    workflow = Workflow(name="Shared", steps=[echo])
    outputs: list[Any] = []
    lock = threading.Lock()

    def call(user: str) -> None:
        for _ in range(5):
            result = workflow.run(input=user, user_id=user)
            with lock:
                outputs.append(result)

    threads = [threading.Thread(target=call, args=(f"u{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outputs) == 20
    assert len({o.session_id for o in outputs}) == 20
    for output in outputs:
        session = workflow.get_session(output.session_id, output.user_id)
        assert session is not None and session.user_id == output.user_id


def test_a_workflow_built_with_a_session_id_keeps_using_it() -> None:
    workflow = Workflow(name="Script", steps=[echo], session_id="mine")
    first = workflow.run(input="a")
    second = workflow.run(input="b")
    assert first.session_id == second.session_id == "mine"
    session = workflow.get_session()
    assert session is not None and len(session.runs or []) == 2


# -- the awaited session methods ---------------------------------------------------------


def test_the_awaited_session_methods_match_the_sync_ones(adb: AnyDb) -> None:
    workflow = Workflow(name="Methods", description="Reads", db=adb, steps=[echo])

    async def body() -> dict[str, Any]:
        await workflow.arun(input="a", session_id="s1", user_id="u1", run_id="r1")
        await workflow.arun(input="b", session_id="s1", user_id="u1")
        renamed = await workflow.aset_session_name("s1", session_name="Named", user_id="u1")
        state = await workflow.aupdate_session_state({"k": 1}, "s1", "u1")
        return {
            "renamed": renamed.session_name,
            "name": await workflow.aget_session_name("s1", "u1"),
            "state": state,
            "read_state": await workflow.aget_session_state("s1", "u1"),
            "chat": [c.input for c in await workflow.aget_chat_history("s1", 1, "u1")],
            "run": (await workflow.aget_run("r1", "s1", "u1")),
            "last": (await workflow.aget_last_run_output("s1", "u1")),
            "other": await workflow.aget_session("s1", "someone-else"),
            "deleted_by_other": await workflow.adelete_session("s1", "someone-else"),
            "deleted": await workflow.adelete_session("s1", "u1"),
            "after": await workflow.aget_session("s1", "u1"),
        }

    got = drive(adb, body)
    assert got["renamed"] == got["name"] == "Named"
    assert got["state"] == got["read_state"] == {"k": 1}
    assert got["chat"] == ["b"]
    assert got["run"] is not None and got["run"].input == "a"
    assert got["last"] is not None and got["last"].input == "b"
    assert got["other"] is None and got["deleted_by_other"] is False
    assert got["deleted"] is True and got["after"] is None


def test_export_otel_is_awaited_on_an_async_db(adb: AnyDb) -> None:
    """The same spans as the sync call gives, from a run recorded by arun."""
    workflow = Workflow(name="Traced", db=adb, steps=[fetch, shout])

    async def body() -> dict[str, Any]:
        await workflow.arun(input="news", session_id="s1", user_id="u1")
        if isinstance(adb, AsyncKernDb):
            return await adb.export_otel("s1", user_id="u1")
        return adb.export_otel("s1", user_id="u1")

    document = drive(adb, body)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [s["name"] for s in spans] == [
        "invoke_workflow Traced",
        "step fetch",
        "execute_tool fetch",
        "step shout",
        "execute_tool shout",
    ]


# -- the loop is never blocked -----------------------------------------------------------


def test_arun_never_blocks_the_loop(adb: AnyDb, caplog: pytest.LogCaptureFixture) -> None:
    """asyncio's debug mode logs every callback slower than the threshold: a run of
    slow sync steps (in worker threads) and store calls logs none."""

    def slow(step_input: StepInput) -> str:
        time.sleep(0.3)
        return "slow"

    workflow = Workflow(name="Slow", db=adb, steps=[slow, fetch, slow])

    async def body() -> None:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.25
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await asyncio.gather(*(workflow.arun(input=i, session_id=f"s{i}") for i in range(3)))
        ticker.cancel()
        assert ticks > 20  # the loop went on while the steps slept

    with caplog.at_level("WARNING", logger="asyncio"):
        drive(adb, body)
    slow_callbacks = [r for r in caplog.records if "took" in r.getMessage()]
    assert slow_callbacks == []


def test_cancel_run_reaches_only_the_callers_own_runs() -> None:
    """Another user's run answers as a run not in flight, and goes on."""
    gated = GatedRun(run_id="r1", user_id="ana")
    assert gated.workflow.cancel_run("r1", user_id="bo") is False
    assert gated.workflow.cancel_run("r1", user_id="ana") is True
    assert gated.finish().status == RunStatus.cancelled


def test_a_second_run_with_the_same_run_id_cannot_take_over_the_first_ones_cancel() -> None:
    gated = GatedRun(run_id="r1")
    with pytest.raises(RunAlreadyStartedError):
        gated.workflow.run(input="again", session_id="s1", run_id="r1")
    assert gated.workflow.cancel_run("r1") is True
    assert gated.finish().status == RunStatus.cancelled


def test_areplay_runs_async_steps_again_and_compares(adb: AnyDb) -> None:
    answers = iter(["first answer", "second answer"])

    async def model(step_input: StepInput) -> str:
        await asyncio.sleep(0)
        return next(answers)

    workflow = Workflow(name="Replayed", db=adb, steps=[echo, model])

    async def body() -> Any:
        await workflow.arun(input="q", session_id="s1", run_id="r1")
        return await workflow.areplay("r1", "s1")

    report = drive(adb, body)
    assert [(d.name, d.outcome) for d in report.steps] == [("echo", "equal"), ("model", "changed")]
    assert report.steps[1].replayed == "second answer"


def test_stream_events_false_keeps_only_the_workflows_own_events(adb: AnyDb) -> None:
    """Agno's stream_events: False leaves the steps' events out, True (the default) keeps them."""
    workflow = Workflow(name="Quiet", db=adb, steps=[echo, fetch])

    async def body() -> Any:
        quiet = workflow.arun(input="x", session_id="s1", stream=True, stream_events=False)
        loud = workflow.arun(input="y", session_id="s1", stream=True, stream_events=True)
        return [e.event async for e in quiet], [e.event async for e in loud]

    quiet, loud = drive(adb, body)
    assert quiet == ["WorkflowStarted", "WorkflowCompleted"]
    assert loud.count("StepCompleted") == 2
    sync = Workflow(name="Quiet", steps=[echo])
    events = sync.run(input="x", session_id="s1", stream=True, stream_events=False)
    assert [e.event for e in events] == ["WorkflowStarted", "WorkflowCompleted"]


def test_sync_calls_on_a_workflow_with_an_async_db_are_refused_and_write_nothing(
    tmp_path: Path,
) -> None:
    """run() and the sync session methods name what to call instead."""
    db = AsyncSqliteDb(tmp_path / "kern.db")
    workflow = Workflow(name="Async db", db=db, steps=[echo])
    with pytest.raises(AsyncStoreError, match=r"AsyncSqliteDb.*workflow\.arun"):
        workflow.run(input="x", session_id="s1")
    with pytest.raises(AsyncStoreError, match=r"AsyncSqliteDb.*aget_session"):
        workflow.get_session("s1")
    with pytest.raises(AsyncStoreError, match="a\\* methods"):
        workflow.set_session_name("s1", session_name="Named")

    async def body() -> Any:
        return await workflow.aget_session("s1")

    assert drive(db, body) is None  # nothing was written
