"""AsyncKernDb: the session API of :class:`~kern.application.sessions.KernDb`, awaited.

Every method is the KernDb method of the same name, run on the event loop
through :mod:`kern.application.bridge`: the same code, so the same checks,
errors and guarantees, with every wait (a statement, a lock, a retry's pause)
handed to the loop. ``AsyncPostgresDb`` and ``AsyncSqliteDb`` (in ``kern.db``)
are AsyncKernDbs on stores whose connections wait that way.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from kern.application import bridge
from kern.application.ports import SessionStore
from kern.application.sessions import KernDb

P = ParamSpec("P")
T = TypeVar("T")

_END = object()


def _awaited(
    method: Callable[Concatenate[KernDb, P], T],
) -> Callable[Concatenate[AsyncKernDb, P], Coroutine[Any, Any, T]]:
    """The coroutine method that runs KernDb's ``method`` on the loop."""

    async def call(self: AsyncKernDb, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await bridge.portal(method, self.sync, *args, **kwargs)

    return functools.wraps(method)(call)


class AsyncKernDb:
    """Sessions on one async store, for asyncio services; methods as on KernDb, awaited.

    It belongs to the event loop that first uses it (as its connection pool
    does). A sync call on its store raises AsyncStoreError: use ``await``.
    """

    blocking = False
    """Whether its calls may block the thread they run on: never, it waits on the loop."""

    def __init__(self, sync: KernDb) -> None:
        self.sync = sync
        """The KernDb whose code every method runs."""

    @property
    def store(self) -> SessionStore:
        return self.sync.store

    @property
    def strict_users(self) -> bool:
        return self.sync.strict_users

    def user(self, user_id: object) -> str | None:
        """``user_id`` checked, as :meth:`KernDb.user` (no I/O: not awaited)."""
        return self.sync.user(user_id)

    get_events = _awaited(KernDb.get_events)
    read_feed = _awaited(KernDb.read_feed)
    get_session = _awaited(KernDb.get_session)
    require_session = _awaited(KernDb.require_session)
    get_sessions = _awaited(KernDb.get_sessions)
    get_deleted_sessions = _awaited(KernDb.get_deleted_sessions)
    rename_session = _awaited(KernDb.rename_session)
    update_session_state = _awaited(KernDb.update_session_state)
    save_session = _awaited(KernDb.save_session)
    delete_session = _awaited(KernDb.delete_session)
    delete_sessions = _awaited(KernDb.delete_sessions)
    get_interrupted_runs = _awaited(KernDb.get_interrupted_runs)
    abandon_run = _awaited(KernDb.abandon_run)
    get_log = _awaited(KernDb.get_log)
    head_version = _awaited(KernDb.head_version)
    resolve_as_of = _awaited(KernDb.resolve_as_of)
    get_step_view = _awaited(KernDb.get_step_view)
    diff_runs = _awaited(KernDb.diff_runs)
    fork_session = _awaited(KernDb.fork_session)
    verify = _awaited(KernDb.verify)
    anchor = _awaited(KernDb.anchor)
    import_lines = _awaited(KernDb.import_lines)
    erase_user = _awaited(KernDb.erase_user)
    erase_session = _awaited(KernDb.erase_session)
    erase_older_than = _awaited(KernDb.erase_older_than)
    rotate_keyring = _awaited(KernDb.rotate_keyring)
    export_otel = _awaited(KernDb.export_otel)
    purge_session = _awaited(KernDb.purge_session)
    erasures = _awaited(KernDb.erasures)

    async def export(
        self,
        session_id: str | None = None,
        *,
        progress: Any = None,
        user_id: str | None = None,
        keys: bool = False,
    ) -> AsyncIterator[str]:
        """As :meth:`KernDb.export`, one JSON line at a time."""
        lines: Iterator[str] = await bridge.portal(
            self.sync.export, session_id, progress=progress, user_id=user_id, keys=keys
        )

        async def each() -> AsyncIterator[str]:
            while (line := await bridge.portal(next, lines, _END)) is not _END:
                assert isinstance(line, str)
                yield line

        return each()

    async def close(self) -> None:
        """Close the store's connections."""
        await bridge.portal(self.sync.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
