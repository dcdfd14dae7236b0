"""What every tier shares: the PostgreSQL test server and the postgres test count.

The tiers are folders: ``unit/`` (no store, or the in-memory one),
``contract/`` (every store, through the ``db`` fixture of its conftest),
``postgres/`` and ``sqlite/`` (one real store each). The PostgreSQL tests use
the server at ``KERN_TEST_POSTGRES_URL`` (default: local postgres, trust
auth), in a schema made for this test run and dropped after it; they skip,
with a line saying how to enable them, when no server answers, except under
CI (``CI`` set), where they fail instead.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg.errors
import pytest
from psycopg import sql
from psycopg_pool import PoolTimeout

from kern.workflow import HumanReview, OnError, Step, StepInput

POSTGRES_URL = os.environ.get(
    "KERN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_tables = itertools.count(1)

# A helper module whose asserts check a load test's outcome, imported by tests in
# contract/ and postgres/: registered here, so it is rewritten whichever tier runs.
pytest.register_assert_rewrite("tests.contract.reliability._load")


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A schema of its own for this test run on the test server, dropped at the end."""
    try:
        admin = psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        message = (
            f"PostgreSQL not reachable at {POSTGRES_URL} ({reason}); start it or set "
            "KERN_TEST_POSTGRES_URL to run the PostgreSQL tests"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    schema = f"kern_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield schema
    # A new connection: a test may have restarted the server since.
    with psycopg.connect(POSTGRES_URL, connect_timeout=10, autocommit=True) as admin:
        # One table at a time first: dropping hundreds of tables with their indexes
        # in one statement needs more locks than max_locks_per_transaction allows.
        tables = admin.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema]
        ).fetchall()
        for (table,) in tables:
            admin.execute(
                sql.SQL("DROP TABLE {}.{} CASCADE").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def postgres_table() -> str:
    """A session_table name not used before in this test run."""
    return f"t{os.getpid()}_{next(_tables)}"


SERVER_RESTARTED: list[type[BaseException] | str] = [
    psycopg.errors.ConnectionException,  # SQLSTATE class 08
    psycopg.errors.AdminShutdown,  # 57P01
    psycopg.errors.CrashShutdown,  # 57P02
    psycopg.errors.CannotConnectNow,  # 57P03
    PoolTimeout,
    # Lost connections without a SQLSTATE, and Kern's StoreUnavailableError naming one
    # (raised "from None", so only its text tells):
    r"server closed the connection unexpectedly",
    r"consuming input failed",
    r"the database system is (starting up|shutting down|in recovery mode)",
    r"terminating connection due to administrator command",
    r"StoreUnavailableError: .*(Connection refused|connection failed)",
]
"""What a restart of the shared server by someone else looks like in a failed test:
a connection-level error anywhere along its chain (rerunfailures follows __cause__
and __context__), and nothing else."""


RESTART_RERUNS = 2
RESTART_WAIT = 10
"""A restart seen here took 2 to 21 s: a test it broke waits this long (seconds)
before each of its reruns, so the server is back when the test runs again."""


# trylast: after tests/postgres/conftest.py has marked its tests ``postgres``.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run a postgres-marked test once more when it failed because the shared server
    went away under it (restarted by another client); any other failure stands."""
    for item in items:
        if item.get_closest_marker("postgres") and not item.get_closest_marker("flaky"):
            item.add_marker(
                pytest.mark.flaky(
                    reruns=RESTART_RERUNS, reruns_delay=RESTART_WAIT, only_rerun=SERVER_RESTARTED
                )
            )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how the postgres-marked tests went; .ci/run fails when any was skipped."""
    outcomes: dict[str, set[str]] = {"passed": set(), "skipped": set(), "failed": set()}
    categories = {"passed": "passed", "skipped": "skipped", "failed": "failed", "error": "failed"}
    for category, outcome in categories.items():
        for report in terminalreporter.stats.get(category, []):
            if "postgres" in getattr(report, "keywords", {}):
                outcomes[outcome].add(report.nodeid)
    # A test whose teardown failed after it passed counts once, as failed.
    outcomes["passed"] -= outcomes["failed"]
    terminalreporter.write_line(
        f"kern: postgres tests: {len(outcomes['passed'])} passed, "
        f"{len(outcomes['skipped'])} skipped, {len(outcomes['failed'])} failed"
    )


def echo(step_input: StepInput) -> str:
    """A step that answers with its input."""
    return f"echo: {step_input.input}"


def shout(step_input: StepInput) -> str:
    """A step that upper-cases what the previous step said."""
    return str(step_input.previous_step_content).upper()


def failing(executor: Any, name: str | None = None) -> Step:
    """``executor`` as a step whose exception ends the run as ERROR and propagates:
    one attempt, ``on_error="fail"`` (by default a step is retried, then skipped)."""
    review = HumanReview(on_error=OnError.fail)
    return Step(name=name, executor=executor, max_retries=0, human_review=review)
