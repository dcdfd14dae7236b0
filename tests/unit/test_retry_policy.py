"""The PostgreSQL retry policy: which errors are transient, and how they are tried again.

Errors are built here as psycopg and eventsourcing would raise them, so the
table needs no server.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, ProgrammingError
from freezegun import freeze_time
from psycopg import errors
from psycopg_pool import PoolClosed, PoolTimeout

from kern.adapters.stores.retry import RetryPolicy, driver_error, is_transient
from kern.errors import StoreUnavailableError

TRANSIENT: list[psycopg.Error] = [
    psycopg.OperationalError("consuming input failed: server closed the connection"),
    psycopg.OperationalError("the connection is closed"),
    psycopg.InterfaceError("the connection is lost"),
    errors.ConnectionException(),  # 08000
    errors.SqlclientUnableToEstablishSqlconnection(),  # 08001
    errors.ConnectionDoesNotExist(),  # 08003
    errors.ConnectionFailure(),  # 08006
    errors.ProtocolViolation(),  # 08P01
    errors.AdminShutdown(),  # 57P01, pg_terminate_backend
    errors.CrashShutdown(),  # 57P02
    errors.CannotConnectNow(),  # 57P03, starting up
    PoolTimeout("couldn't get a connection after 5.00 sec"),
]

PERMANENT: list[psycopg.Error] = [
    PoolClosed("the pool 'pool-1' is already closed"),
    errors.ProgramLimitExceeded("index row size 6024 exceeds btree version 4 maximum 2704"),
    errors.TooManyConnections(),  # 53300
    errors.DiskFull(),  # 53100
    errors.QueryCanceled(),  # 57014, statement_timeout
    errors.DatabaseDropped(),  # 57P04
    errors.IdleSessionTimeout(),  # 57P05
    errors.SerializationFailure(),  # 40001
    errors.DeadlockDetected(),  # 40P01
    errors.UniqueViolation(),  # 23505
    errors.UndefinedTable(),  # 42P01
    errors.InsufficientPrivilege(),  # 42501, the append-only trigger
    errors.IdleInTransactionSessionTimeout(),  # 25P03
    psycopg.ProgrammingError("the query has 2 placeholders but 1 parameters were passed"),
    psycopg.DataError("invalid input"),
]


def name(error: BaseException) -> str:
    return f"{type(error).__name__}({getattr(error, 'sqlstate', None)})"


def wrapped(error: psycopg.Error) -> Exception:
    """``error`` as eventsourcing's datastore raises it (``raise X(str(e)) from e``)."""
    kind = OperationalError if isinstance(error, psycopg.OperationalError) else ProgrammingError
    try:
        raise kind(str(error)) from error
    except kind as outer:
        return outer


# -- the table ------------------------------------------------------------------------------


@pytest.mark.parametrize("error", TRANSIENT, ids=name)
def test_lost_connections_are_transient(error: psycopg.Error) -> None:
    assert is_transient(error)
    assert is_transient(wrapped(error))


@pytest.mark.parametrize("error", PERMANENT, ids=name)
def test_everything_else_is_permanent(error: psycopg.Error) -> None:
    assert not is_transient(error)
    assert not is_transient(wrapped(error))


def test_errors_without_a_driver_error_behind_them_are_permanent() -> None:
    assert not is_transient(OperationalError("no cause"))
    assert not is_transient(IntegrityError("duplicate key"))
    assert not is_transient(ValueError("bad"))


def test_an_error_raised_while_handling_a_lost_connection_is_classified_by_it() -> None:
    """``__context__`` counts, as Python shows it, unless suppressed with ``from None``."""
    try:
        try:
            raise errors.AdminShutdown()
        except psycopg.Error:
            raise OperationalError("while handling") from None
    except OperationalError as suppressed:
        assert driver_error(suppressed) is None
        assert not is_transient(suppressed)
    try:
        try:
            raise errors.AdminShutdown()
        except psycopg.Error:
            raise OperationalError("while handling")  # noqa: B904 - the point of the test
    except OperationalError as chained:
        assert isinstance(driver_error(chained), errors.AdminShutdown)
        assert is_transient(chained)


def test_a_kern_error_about_an_unreachable_server_is_not_retried() -> None:
    """The first-use probe reports its failure ``from None``: the caller hears at once."""
    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.Error:
            raise StoreUnavailableError("cannot use PostgreSQL") from None
    except StoreUnavailableError as reported:
        assert not is_transient(reported)


# -- the policy -----------------------------------------------------------------------------


class Flaky:
    """A call that fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: Callable[[], Exception]) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error()
        return "answer"


def policy(pauses: list[float], recovered: list[None], budget: float = 15.0) -> RetryPolicy:
    return RetryPolicy(
        budget=budget,
        recover=lambda: recovered.append(None),
        on_retry=lambda exc, pause: pauses.append(pause),
        sleep=lambda seconds: None,
    )


def test_a_transient_failure_is_tried_again_after_growing_pauses_and_a_pool_check() -> None:
    pauses: list[float] = []
    recovered: list[None] = []
    call = Flaky(7, lambda: wrapped(errors.AdminShutdown()))
    assert policy(pauses, recovered)(call) == "answer"
    assert call.calls == 8
    assert pauses == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert len(recovered) == 7


def test_a_permanent_failure_is_raised_at_once_untried() -> None:
    pauses: list[float] = []
    recovered: list[None] = []
    call = Flaky(1, lambda: wrapped(errors.ProgramLimitExceeded("index row size")))
    with pytest.raises(OperationalError, match="index row size"):
        policy(pauses, recovered)(call)
    assert call.calls == 1
    assert pauses == [] and recovered == []


def test_the_last_failure_is_raised_once_the_budget_is_spent() -> None:
    """Real pauses, a budget of 0.3 s: a few tries, then the error itself (no RetryError)."""
    retried: list[float] = []
    call = Flaky(1000, lambda: wrapped(errors.AdminShutdown()))
    spent = RetryPolicy(budget=0.3, on_retry=lambda exc, pause: retried.append(pause))
    with pytest.raises(OperationalError):
        spent(call)
    assert 2 <= call.calls <= 6
    assert len(retried) == call.calls - 1


def test_a_clock_that_stands_still_cannot_make_it_try_forever() -> None:
    """Under freezegun no time passes: the policy still stops, after 20 tries."""
    call = Flaky(1000, lambda: wrapped(errors.AdminShutdown()))
    with freeze_time("2026-01-01"), pytest.raises(OperationalError):
        policy([], [])(call)
    assert call.calls == 20


def test_the_default_budget_is_about_fifteen_seconds_of_short_pauses() -> None:
    """20 tries' pauses sum to about 15.5 s: the budget ``reconnecting`` had."""
    pauses: list[float] = []
    policy(pauses, [])(Flaky(19, lambda: errors.AdminShutdown()))
    assert sum(pauses) == pytest.approx(15.55)
    assert max(pauses) == 1.0
    assert RetryPolicy().budget == 15.0
