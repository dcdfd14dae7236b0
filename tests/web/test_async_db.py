"""The app on an async store (AsyncSqliteDb, AsyncPostgresDb): the same answers,
its calls awaited on the server's loop instead of run on the thread pool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.db.postgres import AsyncPostgresDb, PostgresDb
from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.web import create_app
from tests.conftest import POSTGRES_URL, postgres_table
from tests.web.conftest import Seeded, seed
from tests.web.server import open_stream, serving
from tests.web.test_stream import sse_events


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Seeded, AsyncKernDb]]:
    """A store seeded through its sync API, and the async store on the same tables."""
    sync: KernDb
    if request.param == "sqlite":
        sync = SqliteDb(tmp_path / "kern.db")
        served: AsyncKernDb = AsyncSqliteDb(tmp_path / "kern.db")
    else:
        schema = request.getfixturevalue("postgres_schema")
        table = postgres_table()
        sync = PostgresDb(POSTGRES_URL, table, schema)
        served = AsyncPostgresDb(POSTGRES_URL, table, schema)
    yield seed(sync), served
    sync.close()


def test_an_async_store_answers_as_the_sync_one(stores: tuple[Seeded, AsyncKernDb]) -> None:
    seeded, served = stores
    with TestClient(create_app(served, admin=True)) as client:
        listed = client.get("/api/sessions", params={"sort_by": "session_id", "sort_order": "asc"})
        assert [s["session_id"] for s in listed.json()["sessions"]] == ["alice-s", "bob-s"]
        session = client.get("/api/sessions/alice-s", params={"as_of": "3"}).json()
        expected = seeded.db.get_session("alice-s", as_of=3)
        assert expected is not None and session["session"] == expected.to_dict()
        events = client.get("/api/sessions/alice-s/events").json()["events"]
        assert events == [e.to_json() for e in seeded.db.get_log("alice-s")]
        exported = client.get("/api/sessions/alice-s/export").text.splitlines()
        assert exported == list(seeded.db.export("alice-s"))
        missing = client.get("/api/sessions/nobody/export")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "SessionNotFoundError"
        client.portal.call(served.close)  # type: ignore[union-attr]


def test_an_async_store_streams_live(stores: tuple[Seeded, AsyncKernDb]) -> None:
    seeded, served = stores
    app = create_app(served, admin=True, poll_interval=0.05)
    url = "/api/sessions/alice-s/stream?after=0"
    with serving(app) as base, open_stream(base, url) as response:
        events = sse_events(response.iter_lines(), 2)
    assert [e["data"]["version"] for e in events] == [1, 2]
    assert json.dumps(events[0]["data"]) == json.dumps(seeded.db.get_log("alice-s")[0].to_json())
