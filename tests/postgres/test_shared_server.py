"""The suite on a PostgreSQL server other clients use: a test that lost the server
under it (a restart by someone else) is run once more; nothing else is."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import RESTART_RERUNS, RESTART_WAIT

_runs: list[str] = []


def test_a_test_whose_server_connection_was_terminated_is_run_once_more(
    admin: psycopg.Connection[Any],
) -> None:
    """The first run loses its connection as a server restart would (admin_shutdown,
    57P01); the rerun, with fresh fixtures, passes."""
    _runs.append("run")
    if len(_runs) == 1:
        admin.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert admin.execute("SELECT 1").fetchone() == (1,)
    assert _runs == ["run", "run"]


def test_postgres_tests_are_rerun_only_for_a_lost_server(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("flaky")
    assert marker is not None and marker.kwargs["reruns"] == RESTART_RERUNS
    assert marker.kwargs["reruns_delay"] == RESTART_WAIT
    patterns = marker.kwargs["only_rerun"]
    assert psycopg.errors.AdminShutdown in patterns
    assert psycopg.errors.UniqueViolation not in patterns
    assert all(
        not (isinstance(p, type) and issubclass(psycopg.errors.UniqueViolation, p))
        for p in patterns
    )
