"""The one retry policy of the PostgreSQL store: what is worth another try, and for how long.

A statement is tried again only when its *connection* failed, never when the
server refused the statement itself. Transient, for PostgreSQL, means exactly:

- a psycopg ``OperationalError`` or ``InterfaceError`` without a SQLSTATE: the
  client lost the connection (the server closed it, the socket broke, the
  connection was found closed) before any error report arrived;
- SQLSTATE class ``08``, connection exception;
- ``57P01`` admin_shutdown (``pg_terminate_backend``, a fast shutdown),
  ``57P02`` crash_shutdown (another backend crashed), ``57P03``
  cannot_connect_now (the server is starting up or shutting down);
- ``psycopg_pool.PoolTimeout``: no connection came free in time, as happens
  while the server restarts.

Nothing else: a constraint, a program limit (``54000``, e.g. an index row too
large), a syntax or permission error or a timeout fails the same way every
time, so it is raised at once. ``psycopg_pool.PoolClosed`` is an
``OperationalError`` without a SQLSTATE, but it means the store was closed:
never transient.

eventsourcing wraps psycopg's errors in its own persistence errors (``raise
OperationalError(str(e)) from e``), so an error is classified by the psycopg
error found along its ``__cause__`` / ``__context__`` chain.

The budget is today's: short pauses growing from 50 ms to 1 s, until about
15 s have passed, and never more than 20 tries (so a clock that stands
still, as under freezegun, cannot make it try forever). After each failure
the pool's idle connections are checked
(``recover``), so the next attempt does not pick up another connection the
server dropped. Connections are not pinged before each use: that would cost a
round trip per statement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from kern.application import bridge

T = TypeVar("T")

TRANSIENT_SQLSTATE_CLASSES = {"08": "connection_exception"}
"""SQLSTATE classes (first two characters) whose every code is transient."""

TRANSIENT_SQLSTATES = {
    "57P01": "admin_shutdown",
    "57P02": "crash_shutdown",
    "57P03": "cannot_connect_now",
}
"""Single SQLSTATE codes that are transient."""

BUDGET = 15.0
"""Seconds after its first try past which a statement is not tried again."""

ATTEMPTS = 20
"""Tries of a statement at most, whatever the clock says (about BUDGET of pauses)."""

FIRST_PAUSE = 0.05
"""Seconds to wait after the first failure; each later pause doubles, up to LONGEST_PAUSE."""

LONGEST_PAUSE = 1.0

logger = logging.getLogger("kern.stores")


def driver_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg (or psycopg_pool) error ``exc`` is or wraps, if any: followed
    along the chain Python would show, ``__cause__``, else ``__context__``
    unless it was suppressed (``raise ... from None`` ends the chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, psycopg.Error):
            return current
        seen.add(id(current))
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost connection worth another try (see the module doc)."""
    error = driver_error(exc)
    if error is None or isinstance(error, PoolClosed):
        return False
    if isinstance(error, PoolTimeout):
        return True
    state = error.sqlstate
    if state is None:
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES


def _log_retry(exc: BaseException, pause: float) -> None:
    reason = " ".join(str(driver_error(exc) or exc).split())
    logger.info("PostgreSQL connection lost (%s); trying again in %.2f s", reason, pause)


def _nothing() -> None:
    """The default ``recover``: nothing to check."""


class RetryPolicy:
    """Runs a call again over transient failures, within the budget.

    ``recover`` runs after each failure (the PostgreSQL store checks its pool's
    idle connections there; its own errors are its business); ``on_retry``
    hears of every failure that will be tried again, with the pause before the
    next try (by default it logs on the ``kern.stores`` logger).
    """

    def __init__(
        self,
        *,
        budget: float = BUDGET,
        recover: Callable[[], None] = _nothing,
        on_retry: Callable[[BaseException, float], None] = _log_retry,
        sleep: Callable[[float], None] = bridge.pause,
    ) -> None:
        self.budget = budget
        self.recover = recover
        self.on_retry = on_retry
        self.sleep = sleep

    def __call__(self, call: Callable[[], T]) -> T:
        """``call()``'s result; its last error once it failed for good."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_delay(self.budget) | stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=FIRST_PAUSE, max=LONGEST_PAUSE),
            before_sleep=self._before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(call)

    def _before_sleep(self, state: RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        failed = state.outcome.exception()
        assert failed is not None
        self.recover()
        self.on_retry(failed, state.next_action.sleep)
