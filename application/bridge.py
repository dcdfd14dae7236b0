"""Kern's one core, driven from asyncio.

Kern's use cases and stores are written once, as plain functions. The async
API (``Workflow.arun``, the ``AsyncPostgresDb`` and ``AsyncSqliteDb`` stores)
runs that same code on the event loop, in a portal: a greenlet that belongs
to the calling task (SQLAlchemy's asyncio extension runs its sync core on
async drivers the same way). Wherever the code has to wait (a statement on an
async connection, an ``async def`` step, the pause before a retry, a turn at
a lock) it calls :func:`wait`, which switches to the task's own greenlet; the
task awaits the awaitable, letting the loop run other tasks, and switches
back with its result (or raises its error, CancelledError included, at that
point in the sync code). One switch there and one back per wait: greenback,
which steps the awaitable through the portal one suspension at a time, cost
a third more per run on AsyncPostgresDb. So
the async stores keep every guarantee of the sync ones by construction: it is
the same code, the same statements, the same hash chain.

Three places run Kern's code during an async call, and :func:`wait` serves
each: the loop's thread inside a portal (it awaits through the portal); a
worker thread that runs a sync step for the call (it hands the awaitable to
the loop and blocks that worker thread only); anywhere else, such as a sync
call on an async store, it raises :class:`~kern.domain.errors.AsyncStoreError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

from kern.domain.errors import AsyncStoreError

T = TypeVar("T")

_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "kern_loop", default=None
)
"""The loop of the async call this code runs for (None outside one)."""

_CALLER: contextvars.ContextVar[object | None] = contextvars.ContextVar("kern_caller", default=None)
"""In a worker thread of an async call: the task it works for (owns its locks)."""

_PENDING: contextvars.ContextVar[set[concurrent.futures.Future[Any]] | None] = (
    contextvars.ContextVar("kern_pending", default=None)
)
"""In a worker thread of :func:`off_loop`: what it handed to the loop and waits for."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def active() -> bool:
    """Whether this code runs for an async call (on its loop or in one of its threads)."""
    return _LOOP.get() is not None


class _Portal(greenlet):
    """The greenlet a portal runs its sync code in; ``task`` is the greenlet of the
    task that awaits for it."""

    def __init__(self, fn: Callable[..., Any], task: greenlet) -> None:
        super().__init__(fn, task)
        self.task = task
        self.gr_context = task.gr_context  # the caller's context variables


def _in_portal() -> bool:
    return isinstance(getcurrent(), _Portal)


async def portal(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` run on this loop, able to :func:`wait`."""
    if _in_portal():
        return fn(*args, **kwargs)  # pragma: no cover - sync code awaits nothing
    token = _LOOP.set(asyncio.get_running_loop())
    try:
        child = _Portal(lambda: fn(*args, **kwargs), getcurrent())
        asked = child.switch()
        while not child.dead:  # the sync code asked for ``asked`` to be awaited
            try:
                value = await asked
            except BaseException as exc:
                asked = child.throw(exc)
            else:
                asked = child.switch(value)
        return asked  # type: ignore[no-any-return]
    finally:
        _LOOP.reset(token)


def wait(awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, waited for without blocking the event loop.

    AsyncStoreError outside an async call (see the module doc): a sync call
    on an async store would otherwise block, or never finish."""
    loop = _LOOP.get()
    if loop is None or (_running_loop() is loop and not _in_portal()):
        if isinstance(awaitable, Coroutine):
            awaitable.close()  # no "never awaited" warning on top of the error
        raise AsyncStoreError(
            "this store is async: call it with await (its methods, or workflow.arun and "
            "the workflow's a* methods), not from sync code"
        )
    if _running_loop() is loop:
        current = getcurrent()
        assert isinstance(current, _Portal)
        return current.task.switch(awaitable)  # type: ignore[no-any-return]
    # A worker thread of the call: the loop does the waiting.
    future = asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop)
    pending = _PENDING.get()
    if pending is not None:
        pending.add(future)
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        raise asyncio.CancelledError from None  # the call was cancelled, as on the loop
    finally:
        if pending is not None:
            pending.discard(future)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _finished(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, run as a task of its own and waited for through any
    number of cancellations of the caller (a cancel scope, as anyio's that
    Starlette uses, cancels every await of the task again until it leaves)."""
    inner = asyncio.ensure_future(awaitable)
    cancelled = False
    while not inner.done():
        try:
            await asyncio.wait([inner])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        # Still cancelled: let the caller see it at its next await, as if it came now.
        task = asyncio.current_task()
        if task is not None:
            task.cancel()
    return inner.result()


def shielded(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` run to its end even if the calling task is cancelled meanwhile:
    how the runner records the end of a run it is being cancelled out of (the
    cancellation then reaches the task at its next await). On the loop it runs
    in a task of its own (one per call, not one per wait); elsewhere its waits
    are already tasks of their own, or it does not wait at all."""
    loop = _LOOP.get()
    if loop is None or _running_loop() is not loop:
        return fn(*args)
    return wait(_finished(portal(fn, *args)))


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, waited for: how an async call runs sync
    code that may block (a sync step). That thread acts for the calling task:
    it holds the task's locks and can :func:`wait` through the loop."""
    if _running_loop() is None:
        return fn(*args)  # already off the loop
    token = _CALLER.set(asyncio.current_task())
    try:
        return wait(asyncio.to_thread(fn, *args))
    finally:
        _CALLER.reset(token)


async def off_loop(
    fn: Callable[..., T], *args: Any, on_cancel: Callable[[], object] | None = None
) -> T:
    """``fn(*args)`` in a worker thread, for code that blocks (a sync store): it
    can :func:`wait` for awaitables on this loop (an async step).

    When the awaiting task is cancelled, ``on_cancel`` runs, what the thread
    awaits on the loop is cancelled, and the thread is waited for (it records
    how the call ended) before CancelledError propagates."""
    loop = asyncio.get_running_loop()
    pending: set[concurrent.futures.Future[Any]] = set()
    tokens = (_LOOP.set(loop), _CALLER.set(asyncio.current_task()), _PENDING.set(pending))
    try:
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        future = loop.run_in_executor(None, call)
    finally:
        _PENDING.reset(tokens[2])
        _CALLER.reset(tokens[1])
        _LOOP.reset(tokens[0])
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if on_cancel is not None:
            on_cancel()
        # Until the thread is done: what it hands the loop meanwhile (it may be
        # handing something over right now) is cancelled too.
        while not future.done():
            for handed in list(pending):
                handed.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait([future], timeout=0.01)
        if not future.cancelled():
            future.exception()  # retrieved: how the thread ended is the caller's CancelledError
        raise


def pause(seconds: float) -> None:
    """Sleep ``seconds``: on the loop, let other tasks run meanwhile."""
    if _LOOP.get() is not None and _running_loop() is not None:
        wait(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


def _caller() -> object:
    """Who holds a :class:`CallerLock`: the running task on the loop, else the task
    a worker thread acts for, else the thread itself."""
    if _running_loop() is not None:
        task = asyncio.current_task()
        if task is not None:
            return task
    return _CALLER.get() or threading.current_thread()


class CallerLock:
    """A reentrant lock for the async stores, held by a task rather than a thread.

    Many tasks share the loop's one thread, so a thread lock held across a
    :func:`wait` would let every other task in (an RLock) or block the loop for
    good (a Lock). This one is owned by the calling task (or the task a worker
    thread acts for), and a task waiting for it waits on the loop.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: object | None = None
        self._depth = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def acquire(self) -> bool:
        me = _caller()
        if self._owner is me:
            self._depth += 1
            return True
        wait(self._lock.acquire())
        self._owner, self._depth, self._loop = me, 1, _LOOP.get()
        return True

    def release(self) -> None:
        if self._owner is not _caller():
            raise RuntimeError("cannot release a lock held by another task")
        self._depth -= 1
        if self._depth:
            return
        self._owner = None
        if self._loop is None or _running_loop() is self._loop:
            self._lock.release()
        else:
            self._loop.call_soon_threadsafe(self._lock.release)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
