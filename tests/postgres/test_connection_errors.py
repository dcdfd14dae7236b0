"""An unreachable server, a missing database or role: a clear error at first use, no password."""

from __future__ import annotations

import traceback

import pytest
from psycopg.conninfo import conninfo_to_dict

from kern.db.postgres import PostgresDb
from kern.errors import KernError, StoreUnavailableError
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, postgres_table

PASSWORD = "Zebra-Quartz-7781"
SERVER = conninfo_to_dict(POSTGRES_URL)
HOST = str(SERVER.get("host", "localhost"))
PORT = int(str(SERVER.get("port", 5432)))
USER = str(SERVER.get("user", "postgres"))
# Trust auth ignores the password; a server that checks it needs the real one,
# or it would refuse the login before saying the database or role is missing.
SERVER_PASSWORD = str(SERVER.get("password") or PASSWORD)


def url(*, user: str = USER, password: str = SERVER_PASSWORD, port: int = PORT, dbname: str) -> str:
    return f"postgresql://{user}:{password}@{HOST}:{port}/{dbname}"


def first_use_error(db_url: str, password: str) -> str:
    """Construct (never raises), use once, and return the whole error text shown to a user."""
    db = PostgresDb(db_url, session_table=postgres_table())
    with pytest.raises(StoreUnavailableError) as raised:
        db.get_session("s1")
    shown = "".join(traceback.format_exception(raised.value))
    assert password not in shown
    assert password not in repr(raised.value)
    return str(raised.value)


def test_unreachable_server_is_reported_with_host_port_database_and_reason(
    postgres_schema: str,
) -> None:
    message = first_use_error(url(password=PASSWORD, port=1, dbname="kern_app"), PASSWORD)
    assert repr(HOST) in message
    assert "port 1," in message
    assert "'kern_app'" in message
    assert "Connection refused" in message


def test_missing_database_is_reported_with_the_servers_reason(postgres_schema: str) -> None:
    message = first_use_error(url(dbname="kern_no_such_database"), SERVER_PASSWORD)
    assert repr(HOST) in message
    assert f"port {PORT}," in message
    assert 'database "kern_no_such_database" does not exist' in message


def test_unknown_role_is_reported_with_the_servers_reason(postgres_schema: str) -> None:
    message = first_use_error(
        url(user="kern_no_such_role", password=PASSWORD, dbname="postgres"), PASSWORD
    )
    assert repr(HOST) in message
    assert f"port {PORT}," in message
    assert "'postgres'" in message
    assert "kern_no_such_role" in message
    assert "does not exist" in message or "authentication failed" in message


def test_error_keeps_the_drivers_reason_as_an_attribute(postgres_schema: str) -> None:
    db = PostgresDb(url(password=PASSWORD, port=1, dbname="kern_app"))
    with pytest.raises(StoreUnavailableError) as raised:
        db.get_sessions()
    reason = raised.value.reason  # type: ignore[attr-defined]
    assert "Connection refused" in reason
    assert PASSWORD not in reason


def test_every_use_of_an_unreachable_store_keeps_failing_the_same_way(
    postgres_schema: str,
) -> None:
    """Nothing is cached from a failed first use: each call tries again and says why."""
    db = PostgresDb(url(password=PASSWORD, port=1, dbname="kern_app"))
    workflow = Workflow(name="Offline", db=db, steps=[...])
    for attempt in (lambda: db.get_session("s1"), lambda: workflow.run("hi", session_id="s1")):
        with pytest.raises(StoreUnavailableError, match="Connection refused"):
            attempt()


# -- closing ------------------------------------------------------------------------------------


def test_close_releases_the_store_and_later_use_raises_a_kern_error(
    postgres_schema: str,
) -> None:
    db = PostgresDb(POSTGRES_URL, session_table=postgres_table(), db_schema=postgres_schema)
    Workflow(name="Closing", db=db, steps=[...]).run(input="hi", session_id="s1")
    db.close()
    with pytest.raises(KernError):
        db.get_session("s1")
    db.close()  # closing twice is harmless


def test_closing_an_unused_store_never_connects(postgres_schema: str) -> None:
    db = PostgresDb(url(password=PASSWORD, port=1, dbname="kern_app"))
    db.close()
    with pytest.raises(KernError, match="closed"):
        db.get_session("s1")


def test_context_manager_closes_the_store(postgres_schema: str) -> None:
    with PostgresDb(POSTGRES_URL, session_table=postgres_table(), db_schema=postgres_schema) as db:
        Workflow(name="Scoped", db=db, steps=[...]).run(input="hi", session_id="s1")
        assert db.get_session("s1") is not None
    with pytest.raises(KernError):
        db.get_sessions()
