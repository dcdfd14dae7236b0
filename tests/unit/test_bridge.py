"""The bridge that drives Kern's sync core from asyncio (kern.application.bridge)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kern.application import bridge
from kern.errors import AsyncStoreError


async def sleepy(value: int) -> int:
    await asyncio.sleep(0.01)
    return value


def test_wait_outside_an_async_call_is_a_typed_error_and_leaves_no_warning() -> None:
    """Warnings are errors in this suite: a coroutine left unawaited would fail it."""
    with pytest.raises(AsyncStoreError, match="await"):
        bridge.wait(sleepy(1))


def test_wait_on_the_loop_without_a_portal_is_the_same_error() -> None:
    async def main() -> None:
        token = bridge._LOOP.set(asyncio.get_running_loop())
        try:
            with pytest.raises(AsyncStoreError):
                bridge.wait(sleepy(1))
        finally:
            bridge._LOOP.reset(token)

    asyncio.run(main())


def test_portals_wait_without_blocking_each_other() -> None:
    """Ten sync calls each waiting 0.2 s finish together, not one after another."""

    def call(value: int) -> int:
        return bridge.wait(asyncio.sleep(0.2, result=value))

    async def main() -> tuple[list[int], float]:
        started = time.perf_counter()
        results = await asyncio.gather(*(bridge.portal(call, n) for n in range(10)))
        return list(results), time.perf_counter() - started

    results, elapsed = asyncio.run(main())
    assert results == list(range(10))
    assert elapsed < 2.0  # ten in a row would take 2 s; together about 0.2 s


def test_in_thread_runs_off_the_loop_and_can_wait_back_on_it() -> None:
    def blocking() -> tuple[str, int]:
        return threading.current_thread().name, bridge.wait(sleepy(7))

    def call() -> tuple[str, int]:
        return bridge.in_thread(blocking)

    async def main() -> tuple[str, tuple[str, int]]:
        return threading.current_thread().name, await bridge.portal(call)

    loop_thread, (worker, value) = asyncio.run(main())
    assert worker != loop_thread and value == 7


def test_a_caller_lock_excludes_other_tasks_and_reenters_for_its_owner() -> None:
    lock = bridge.CallerLock()
    inside: list[str] = []
    overlaps: list[int] = []

    def hold(name: str) -> None:
        with lock, lock:  # reentrant for its owner
            inside.append(name)
            overlaps.append(len(inside))
            bridge.wait(asyncio.sleep(0.02))  # other tasks run meanwhile
            inside.remove(name)

    async def main() -> None:
        await asyncio.gather(*(bridge.portal(hold, f"t{n}") for n in range(5)))

    asyncio.run(main())
    assert overlaps == [1] * 5


def test_a_worker_thread_holds_its_tasks_lock_and_waits_for_anothers() -> None:
    lock = bridge.CallerLock()
    order: list[str] = []

    def owner() -> None:
        with lock:
            order.append("owner in")

            def reenter() -> None:
                with lock:  # the worker acts for the same task
                    pass

            bridge.in_thread(reenter)
            bridge.wait(asyncio.sleep(0.05))
            order.append("owner out")

    def other() -> None:
        bridge.wait(asyncio.sleep(0.01))

        def in_worker() -> None:
            with lock:
                order.append("other in")

        bridge.in_thread(in_worker)

    async def main() -> None:
        await asyncio.gather(bridge.portal(owner), bridge.portal(other))

    asyncio.run(main())
    assert order == ["owner in", "owner out", "other in"]


def test_only_the_owner_releases_a_caller_lock() -> None:
    lock = bridge.CallerLock()

    async def main() -> None:
        await bridge.portal(lock.acquire)
        with pytest.raises(RuntimeError, match="another task"):
            await asyncio.create_task(bridge.portal(lock.release))  # another task
        await bridge.portal(lock.release)  # its owner may

    asyncio.run(main())


def test_pause_sleeps_on_the_loop_and_blocks_elsewhere() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        for n in range(5):
            ticks.append(n)
            await asyncio.sleep(0.005)

    async def main() -> None:
        await asyncio.gather(bridge.portal(bridge.pause, 0.1), tick())

    asyncio.run(main())
    assert ticks == list(range(5))
    started = time.perf_counter()
    bridge.pause(0.01)
    assert time.perf_counter() - started >= 0.01


def test_cancelling_an_off_loop_call_cancels_what_its_thread_awaits() -> None:
    seen: list[str] = []

    def work() -> None:
        try:
            bridge.wait(asyncio.sleep(30))
        except asyncio.CancelledError:
            seen.append("thread saw the cancel")
            raise

    async def main() -> None:
        task = asyncio.create_task(bridge.off_loop(work, on_cancel=lambda: seen.append("asked")))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 10))
    assert seen == ["asked", "thread saw the cancel"]
