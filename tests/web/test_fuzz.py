"""Whatever a caller sends, the API answers with JSON and a 2xx or 4xx, never a
500 or a traceback, and writes nothing."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kern.db.in_memory import InMemoryDb
from kern.web import create_app
from tests.web.conftest import USER_HEADER, seed

DB = InMemoryDb()
SEEDED = seed(DB)
CLIENT = TestClient(create_app(DB, user=lambda request: request.headers.get(USER_HEADER)))
BEFORE = list(DB.export())

texts = st.text(min_size=0, max_size=40) | st.sampled_from(
    ["", "0", "-1", "1e9", "9" * 30, "alice-s", "bob-s", *SEEDED.alice_runs, "2026-01-01T00:00"]
)
users = st.sampled_from(["alice", "bob", "", "x" * 300]) | st.text(min_size=0, max_size=20)

TEMPLATES = [
    "/api/sessions?user_id={a}&workflow_id={b}&session_name={c}",
    "/api/sessions?limit={a}&page={b}&sort_by={c}&sort_order={a}",
    "/api/sessions?start_timestamp={a}&end_timestamp={b}",
    "/api/sessions/{a}?as_of={b}",
    "/api/sessions/{a}/events?after={b}&limit={c}",
    "/api/sessions/{a}/runs/{b}/steps/{c}",
    "/api/sessions/{a}/diff?a={b}&b={c}&session_b={a}",
    "/api/sessions/{a}/verify",
    "/api/sessions/{a}/export",
    "/api/sessions/{a}/stream?after=999999",
]


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), texts, texts, texts, users)
def test_any_request_gets_json_and_never_a_server_error(
    template: str, a: str, b: str, c: str, user: str
) -> None:
    url = template.format(a=quote(a, safe=""), b=quote(b, safe=""), c=quote(c, safe=""))
    if url.endswith("/stream?after=999999") and a in ("alice-s", "bob-s"):
        return  # a visible session's stream never ends; its errors are tested elsewhere
    headers = {USER_HEADER: user} if user.isprintable() and user.isascii() else {}
    response = CLIENT.get(url, headers=headers)
    assert response.status_code < 500, (url, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] and error["message"]
        assert "Traceback" not in response.text
    assert list(DB.export()) == BEFORE
