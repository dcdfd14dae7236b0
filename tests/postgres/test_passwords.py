"""A PostgreSQL password shows up in no error, repr or log record.

The error texts themselves are in test_connection_errors.py; who may read and
write a session, on every store, in tests/contract/reliability/test_access.py.
"""

from __future__ import annotations

import logging
import traceback

import pytest

from kern.db.postgres import PostgresDb
from kern.errors import StoreUnavailableError
from kern.workflow import Workflow
from tests.conftest import postgres_table
from tests.postgres.test_connection_errors import PASSWORD, SERVER, SERVER_PASSWORD, url


def shown(exc: BaseException) -> str:
    """Everything a user may see of an error: its traceback, causes included."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


@pytest.mark.parametrize(
    "db_url",
    [
        url(password=PASSWORD, port=1, dbname="kern_app"),
        url(user="kern_no_such_role", password=PASSWORD, dbname="postgres"),
    ],
    ids=["wrong-port", "wrong-user"],
)
def test_a_password_appears_in_no_error_repr_or_log_record(
    postgres_schema: str, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = PostgresDb(db_url, session_table=postgres_table(), db_schema=postgres_schema)
    workflow = Workflow(name="Locked out", db=db, steps=[str])
    for attempt in (lambda: db.get_session("s1"), lambda: workflow.run("hi", session_id="s1")):
        with pytest.raises(StoreUnavailableError) as raised:
            attempt()
        assert PASSWORD not in shown(raised.value)
    assert PASSWORD not in repr(db) + repr(db.store) + str(vars(db))
    assert PASSWORD not in caplog.text
    db.close()


def test_a_working_connection_logs_no_password(
    postgres_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The URL carries a password (the server's, or one a trusting server ignores); it
    stays out of every log record of a whole session of work."""
    db_url = url(dbname=str(SERVER.get("dbname", "postgres")))
    caplog.set_level(logging.DEBUG)
    with PostgresDb(db_url, session_table=postgres_table(), db_schema=postgres_schema) as db:
        Workflow(name="Logged", db=db, steps=[str]).run(input="hi", session_id="s1")
        assert db.get_session("s1") is not None
        assert SERVER_PASSWORD not in repr(db) + repr(db.store)
    assert SERVER_PASSWORD not in caplog.text
