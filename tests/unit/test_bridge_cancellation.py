"""bridge.off_loop cancelled by an anyio cancel scope, as Starlette and FastAPI cancel
a streaming response whose client went away.

An anyio scope cancels every await of a cancelled task again, not once as
``Task.cancel`` does. off_loop promises to wait for its worker thread before
CancelledError propagates (the thread records how the run ended), and a run
on the loop records its end through such a scope too (``bridge.shielded``):
otherwise a streaming client that goes away leaves its run RUNNING.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import anyio

from kern.application import bridge
from kern.db.sqlite import AsyncSqliteDb
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.conftest import echo


def test_off_loop_waits_for_its_thread_when_an_anyio_scope_cancels_it() -> None:
    started, let_finish, finished = threading.Event(), threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        let_finish.wait()
        time.sleep(0.2)  # the thread still has work to do after it was told to stop
        finished.set()

    async def scenario() -> bool | None:
        seen: bool | None = None

        async def call() -> None:
            nonlocal seen
            try:
                await bridge.off_loop(work, on_cancel=let_finish.set)
            except asyncio.CancelledError:
                seen = finished.is_set()
                raise

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await asyncio.to_thread(started.wait)
            group.cancel_scope.cancel()
        return seen

    assert asyncio.run(scenario()) is True


def test_a_run_on_the_loop_cancelled_by_an_anyio_scope_is_recorded_cancelled(
    tmp_path: Path,
) -> None:
    """Every write of the run's end is cancelled again by the scope: they still land."""
    reached = asyncio.Event()

    async def stuck(step_input: StepInput) -> str:
        reached.set()
        await asyncio.sleep(60)
        return "never"

    async def scenario() -> str | None:
        db = AsyncSqliteDb(tmp_path / "kern.db")
        workflow = Workflow(name="Scoped", db=db, steps=[echo, stuck])
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: workflow.arun(input="x", session_id="s1", run_id="r1"))
            await reached.wait()
            group.cancel_scope.cancel()
        run = await workflow.aget_run("r1", "s1")
        await db.close()
        return run.status if run is not None else None

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == RunStatus.cancelled
