"""The HTTP API answers as the Python API does, on every store, read-only.

Each test runs on the in-memory, SQLite and PostgreSQL stores (``seeded``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kern.adapters.web import schemas
from kern.crypto import ERASED, LocalKeyring
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.sqlite import SqliteDb
from kern.domain.errors import InvalidInputError
from kern.domain.values import parse_as_of
from kern.web import create_app
from kern.workflow import Step, StepInput, Workflow
from tests.web.conftest import Seeded, as_user, scoped_client, seed


def error_of(response: Any, status: int) -> dict[str, str]:
    """The JSON error of a response that must have ``status``."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"type", "message"}
    assert "Traceback" not in error["message"]
    return dict(error)


def snapshot(db: KernDb) -> list[str]:
    """Every stored event of every session, as exported."""
    return list(db.export())


# -- reading -----------------------------------------------------------------------


def test_sessions_lists_what_get_sessions_lists(seeded: Seeded, admin: TestClient) -> None:
    body = admin.get("/api/sessions", params={"sort_by": "session_id", "sort_order": "asc"}).json()
    assert [s["session_id"] for s in body["sessions"]] == ["alice-s", "bob-s"]
    alice = body["sessions"][0]
    assert alice["user_id"] == "alice"
    assert alice["session_name"] == "Alice's research"
    assert alice["workflow_name"] == "Pipeline"
    assert alice["runs"] == 2
    assert alice["last_status"] == "COMPLETED"
    assert (body["page"], body["limit"], body["has_more"]) == (1, 20, False)


def test_sessions_filters_and_pages(seeded: Seeded, admin: TestClient) -> None:
    only_bob = admin.get("/api/sessions", params={"user_id": "bob"}).json()["sessions"]
    assert [s["session_id"] for s in only_bob] == ["bob-s"]
    named = admin.get("/api/sessions", params={"session_name": "RESEARCH"}).json()["sessions"]
    assert [s["session_id"] for s in named] == ["alice-s"]
    far = admin.get("/api/sessions", params={"limit": 1000, "page": 999_999}).json()
    assert (far["sessions"], far["has_more"]) == ([], False)
    pages = [
        admin.get(
            "/api/sessions",
            params={"limit": 1, "page": page, "sort_by": "session_id", "sort_order": "asc"},
        ).json()
        for page in (1, 2, 3)
    ]
    assert [[s["session_id"] for s in p["sessions"]] for p in pages] == [["alice-s"], ["bob-s"], []]
    assert [p["has_more"] for p in pages] == [True, False, False]


def test_session_now_and_as_of_each_kind_of_point(seeded: Seeded, admin: TestClient) -> None:
    now = admin.get("/api/sessions/alice-s").json()
    head = now["version"]
    assert now["head_version"] == head == seeded.db.head_version("alice-s")
    assert now["session"] == seeded.db.require_session("alice-s").to_dict()

    second = seeded.alice_runs[1]
    for as_of in ("3", second, (datetime.now(UTC) + timedelta(days=1)).isoformat()):
        body = admin.get("/api/sessions/alice-s", params={"as_of": as_of}).json()
        point = parse_as_of(as_of)
        expected = seeded.db.get_session("alice-s", as_of=point)
        assert expected is not None
        assert body["session"] == expected.to_dict()
        assert body["version"] == seeded.db.resolve_as_of("alice-s", point)
        assert body["head_version"] == head
        assert body["as_of"] == as_of
    # As of the second run's start, the first has completed and the second has just begun.
    early = admin.get("/api/sessions/alice-s", params={"as_of": second}).json()
    runs = early["session"]["runs"]
    assert [(r["run_id"], r["status"]) for r in runs] == [
        (seeded.alice_runs[0], "COMPLETED"),
        (second, "RUNNING"),
    ]


def test_events_page_through_the_whole_log(seeded: Seeded, admin: TestClient) -> None:
    everything = [e.to_json() for e in seeded.db.get_log("alice-s")]
    seen: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        body = admin.get("/api/sessions/alice-s/events", params={"after": after, "limit": 3}).json()
        assert len(body["events"]) <= 3
        assert body["head_version"] == len(everything)
        seen.extend(body["events"])
        after = body["next_after"]
    assert seen == everything
    assert [e["version"] for e in seen] == list(range(1, len(everything) + 1))
    assert seen[0]["event_type"] == "SessionStarted"
    assert set(seen[0]) >= {"timestamp", "payload", "provenance", "hash", "user_id"}
    past_the_end = admin.get("/api/sessions/alice-s/events", params={"after": 999}).json()
    assert past_the_end["events"] == [] and past_the_end["next_after"] is None


def test_step_view_is_what_the_step_saw(seeded: Seeded, admin: TestClient) -> None:
    run = seeded.alice_runs[1]
    body = admin.get(f"/api/sessions/alice-s/runs/{run}/steps/1").json()
    assert body == seeded.db.get_step_view("alice-s", run, 1).to_json()
    assert body["step_index"] == 1
    assert body["input"]["previous_step_content"] == "echo: second question"
    assert body["content"] == "ECHO: SECOND QUESTION"


def test_diff_of_two_runs_and_across_sessions(seeded: Seeded, admin: TestClient) -> None:
    a, b = seeded.alice_runs
    body = admin.get("/api/sessions/alice-s/diff", params={"a": a, "b": b}).json()
    assert body == seeded.db.diff_runs("alice-s", a, b).to_json()
    assert body["changed"] is True
    across = admin.get(
        "/api/sessions/alice-s/diff",
        params={"a": a, "b": seeded.bob_runs[0], "session_b": "bob-s"},
    ).json()
    assert across["session_b"] == "bob-s"


def test_verify_and_export(seeded: Seeded, admin: TestClient) -> None:
    report = admin.get("/api/sessions/alice-s/verify").json()
    assert report == seeded.db.verify("alice-s").to_json()
    assert report["ok"] is True
    exported = admin.get("/api/sessions/alice-s/export")
    assert exported.headers["content-type"] == "application/x-ndjson"
    assert exported.text.splitlines() == list(seeded.db.export("alice-s"))
    assert exported.text.endswith("\n")


def test_an_export_imports_into_an_empty_store(plain_seeded: Seeded) -> None:
    """(Stores without a keyring: the HTTP export never carries data keys, so an
    encrypted session's lines import elsewhere only with ``kern export --keys``.)"""
    with TestClient(create_app(plain_seeded.db, admin=True)) as admin:
        exported = admin.get("/api/sessions/alice-s/export")
    target = InMemoryDb()
    assert target.import_lines(exported.text.splitlines()).sessions == ["alice-s"]
    assert target.verify("alice-s").ok


def test_answers_have_the_shapes_the_openapi_document_gives(
    seeded: Seeded, admin: TestClient
) -> None:
    schemas.Info.model_validate(admin.get("/api/info").json())
    schemas.SessionsPage.model_validate(admin.get("/api/sessions").json())
    schemas.SessionAt.model_validate(admin.get("/api/sessions/alice-s?as_of=2").json())
    schemas.EventsPage.model_validate(admin.get("/api/sessions/alice-s/events").json())
    schemas.ErrorBody.model_validate(admin.get("/api/sessions/nobody").json())
    document = admin.get("/openapi.json").json()
    answer = document["paths"]["/api/sessions"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/SessionsPage")


def test_openapi_document_lists_every_endpoint(admin: TestClient) -> None:
    paths = admin.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/api/sessions",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/events",
        "/api/sessions/{session_id}/runs/{run_id}/steps/{step_index}",
        "/api/sessions/{session_id}/diff",
        "/api/sessions/{session_id}/verify",
        "/api/sessions/{session_id}/export",
        "/api/sessions/{session_id}/stream",
    }
    assert all(set(methods) == {"get"} for methods in paths.values())


# -- who is asking -------------------------------------------------------------------


def test_scoped_app_serves_each_user_only_theirs(seeded: Seeded, scoped: TestClient) -> None:
    listed = scoped.get("/api/sessions", headers=as_user("alice")).json()["sessions"]
    assert [s["session_id"] for s in listed] == ["alice-s"]
    # Asking for bob's listing as alice: nothing, as if bob had no sessions.
    other = scoped.get("/api/sessions", params={"user_id": "bob"}, headers=as_user("alice"))
    assert other.json()["sessions"] == []
    assert scoped.get("/api/info", headers=as_user("alice")).json()["user_id"] == "alice"
    ok = scoped.get("/api/sessions/alice-s", headers=as_user("alice"))
    assert ok.json()["session"]["user_id"] == "alice"


def other_users_urls(seeded: Seeded) -> list[str]:
    """Every per-session URL, aimed at bob's session."""
    run = seeded.bob_runs[0]
    return [
        "/api/sessions/bob-s",
        "/api/sessions/bob-s?as_of=1",
        "/api/sessions/bob-s/events",
        f"/api/sessions/bob-s/runs/{run}/steps/0",
        f"/api/sessions/bob-s/diff?a={run}&b={run}",
        "/api/sessions/bob-s/verify",
        "/api/sessions/bob-s/export",
        "/api/sessions/bob-s/export?format=otel",
        "/api/sessions/bob-s/stream",
    ]


def test_another_users_session_is_a_missing_one(seeded: Seeded, scoped: TestClient) -> None:
    for url in other_users_urls(seeded):
        theirs = error_of(scoped.get(url, headers=as_user("alice")), 404)
        nobodys = url.replace("bob-s", "nobody-s")
        missing = error_of(scoped.get(nobodys, headers=as_user("alice")), 404)
        assert theirs["type"] == missing["type"] == "SessionNotFoundError", url
        assert theirs["message"].replace("bob-s", "X") == missing["message"].replace(
            "nobody-s", "X"
        ), url
        assert "bob's secret" not in json.dumps(theirs)
    # A diff that reaches into bob's session from alice's.
    a = seeded.alice_runs[0]
    reach = scoped.get(
        "/api/sessions/alice-s/diff",
        params={"a": a, "b": seeded.bob_runs[0], "session_b": "bob-s"},
        headers=as_user("alice"),
    )
    assert error_of(reach, 404)["type"] == "SessionNotFoundError"


def test_a_request_naming_no_user_is_refused(seeded: Seeded, scoped: TestClient) -> None:
    for url in ["/api/sessions", "/api/info", *other_users_urls(seeded)]:
        assert error_of(scoped.get(url), 401)["type"] == "Unauthenticated"
        assert error_of(scoped.get(url, headers=as_user("")), 401)["type"] == "Unauthenticated"
    too_long = scoped.get("/api/sessions", headers=as_user("u" * 300))
    assert error_of(too_long, 400)["type"] == "InvalidUserIdError"


def test_an_async_user_function_is_awaited(seeded: Seeded) -> None:
    async def user(request: Any) -> str | None:
        return "bob"

    with TestClient(create_app(seeded.db, user=user)) as client:
        listed = client.get("/api/sessions").json()["sessions"]
    assert [s["session_id"] for s in listed] == ["bob-s"]


def test_create_app_needs_one_way_of_knowing_who_asks() -> None:
    db = InMemoryDb()
    with pytest.raises(InvalidInputError, match="exactly one of user="):
        create_app(db)
    with pytest.raises(InvalidInputError, match="exactly one of user="):
        create_app(db, user=lambda r: "u", admin=True)
    with pytest.raises(InvalidInputError, match="function of the request"):
        create_app(db, user="alice")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="strict_users"):
        create_app(InMemoryDb(strict_users=True), admin=True)
    with pytest.raises(InvalidInputError, match="poll_interval"):
        create_app(db, admin=True, poll_interval=0)


def test_a_strict_users_store_serves_a_scoped_app(tmp_path: Any) -> None:
    db = InMemoryDb(strict_users=True)
    with scoped_client(db) as client:
        assert client.get("/api/sessions", headers=as_user("carol")).json()["sessions"] == []


# -- bad input -------------------------------------------------------------------


BAD_REQUESTS = [
    ("/api/sessions?limit=0", 400, "limit"),
    ("/api/sessions?limit=ten", 400, "limit"),
    ("/api/sessions?limit=1001", 400, "limit"),
    ("/api/sessions?page=1000000001", 400, "page"),
    ("/api/sessions?page=0", 400, "page"),
    ("/api/sessions?sort_by=password", 400, "sort_by"),
    ("/api/sessions?sort_order=sideways", 400, "sort_order"),
    ("/api/sessions?start_timestamp=yesterday", 400, "start_timestamp"),
    ("/api/sessions/alice-s?as_of=0", 400, "version"),
    ("/api/sessions/alice-s?as_of=99999", 400, "no version 99999"),
    ("/api/sessions/alice-s?as_of=no-such-run", 400, "no run 'no-such-run'"),
    ("/api/sessions/alice-s?as_of=1999-01-01T00:00:00", 400, "no event at or before"),
    ("/api/sessions/alice-s?as_of=", 400, "as_of"),
    ("/api/sessions/alice-s/events?after=-1", 400, "after"),
    ("/api/sessions/alice-s/events?limit=0", 400, "limit"),
    ("/api/sessions/alice-s/runs/nope/steps/0", 404, "run 'nope' not found"),
    ("/api/sessions/alice-s/runs/RUN/steps/7", 404, "recorded no step 7"),
    ("/api/sessions/alice-s/runs/RUN/steps/-1", 400, "step_index"),
    ("/api/sessions/alice-s/runs/RUN/steps/first", 400, "step_index"),
    ("/api/sessions/alice-s/diff", 400, "a"),
    ("/api/sessions/alice-s/diff?a=RUN&b=nope", 404, "nope"),
    ("/api/sessions/alice-s/stream?after=x", 400, "after"),
    (f"/api/sessions/{'s' * 300}", 400, "session_id"),
    ("/api/nothing", 404, "no such path"),
]


@pytest.mark.parametrize(("url", "status", "named"), BAD_REQUESTS)
def test_bad_input_is_a_4xx_naming_the_problem(
    seeded: Seeded, admin: TestClient, url: str, status: int, named: str
) -> None:
    before = snapshot(seeded.db)
    response = admin.get(url.replace("RUN", seeded.alice_runs[0]))
    assert named in error_of(response, status)["message"]
    assert snapshot(seeded.db) == before


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_nothing_is_written_through_the_api(seeded: Seeded, admin: TestClient, method: str) -> None:
    before = snapshot(seeded.db)
    for url in ["/api/sessions", *other_users_urls(seeded)]:
        response = admin.request(method, url, json={"session_name": "hijacked"})
        assert error_of(response, 405)["message"].startswith(f"{method} is not allowed")
    assert snapshot(seeded.db) == before
    assert seeded.db.require_session("bob-s").session_name != "hijacked"


def test_static_files_stay_inside_their_folder(admin: TestClient) -> None:
    for url in ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"]:
        response = admin.get(url)
        assert response.status_code == 404, url
        assert "create_app" not in response.text


def test_events_filtered_by_type_and_run(seeded: Seeded, admin: TestClient) -> None:
    second = seeded.alice_runs[1]
    steps = admin.get(
        "/api/sessions/alice-s/events",
        params={"event_type": "StepCompleted", "run_id": second},
    ).json()
    assert [(e["event_type"], e["run_id"]) for e in steps["events"]] == [
        ("StepCompleted", second),
        ("StepCompleted", second),
    ]
    assert steps["next_after"] is None
    both = admin.get(
        "/api/sessions/alice-s/events",
        params=[("event_type", "SessionRenamed"), ("event_type", "SessionStateUpdated")],
    ).json()["events"]
    assert [e["event_type"] for e in both] == ["SessionRenamed", "SessionStateUpdated"]
    # A page of a filtered log ends where the page is full, and goes on from there.
    seen: list[int] = []
    after: int | None = 0
    while after is not None:
        page = admin.get(
            "/api/sessions/alice-s/events",
            params={"event_type": "StepCompleted", "limit": 3, "after": after},
        ).json()
        seen.extend(e["version"] for e in page["events"])
        after = page["next_after"]
    expected = [e.version for e in seeded.db.get_log("alice-s") if e.event_type == "StepCompleted"]
    assert seen == expected and len(seen) == 4
    unknown = admin.get("/api/sessions/alice-s/events", params={"event_type": "Hacked"})
    assert "unknown event type 'Hacked'" in error_of(unknown, 400)["message"]
    no_run = admin.get("/api/sessions/alice-s/events", params={"run_id": "nope"})
    assert error_of(no_run, 404)["type"] == "RunNotFoundError"


def test_every_answer_forbids_outside_scripts_and_framing(admin: TestClient) -> None:
    for url in ["/", "/api/sessions", "/api/sessions/nobody", "/openapi.json"]:
        headers = admin.get(url).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, url
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"


def test_export_as_opentelemetry_spans(seeded: Seeded, admin: TestClient) -> None:
    spans = admin.get("/api/sessions/alice-s/export", params={"format": "otel"}).json()
    assert spans == seeded.db.export_otel("alice-s")
    with_content = admin.get(
        "/api/sessions/alice-s/export", params={"format": "otel", "include_content": "true"}
    ).json()
    assert with_content == seeded.db.export_otel("alice-s", include_content=True)
    assert "first question" in json.dumps(with_content)
    assert "first question" not in json.dumps(spans)
    wrong = admin.get("/api/sessions/alice-s/export", params={"include_content": "true"})
    assert "format=otel" in error_of(wrong, 400)["message"]
    bad = admin.get("/api/sessions/alice-s/export", params={"format": "xml"})
    assert "format" in error_of(bad, 400)["message"]


def test_an_encrypted_store_serves_its_values_and_then_their_markers(tmp_path: Any) -> None:
    db = SqliteDb(tmp_path / "keyed.db", keyring=LocalKeyring(bytes(range(32))))
    seed(db)
    with TestClient(create_app(db, admin=True)) as client:
        before = client.get("/api/sessions/alice-s").json()["session"]
        assert before["runs"][0]["input"] == "first question"
        db.erase_user("alice", reason="ticket 12")
        after = client.get("/api/sessions/alice-s").json()["session"]
        assert [run["input"] for run in after["runs"]] == [ERASED, ERASED]
        assert [run["status"] for run in after["runs"]] == ["COMPLETED", "COMPLETED"]
        assert client.get("/api/sessions/alice-s/verify").json()["ok"] is True
        exported = client.get("/api/sessions/alice-s/export").text
        assert "first question" not in exported
        bob = client.get("/api/sessions/bob-s").json()["session"]
        assert bob["runs"][0]["input"] == "bob's secret"
    db.close()


def test_failed_attempts_are_listed_with_the_events_and_scoped_to_their_user(
    seeded: Seeded, admin: TestClient, scoped: TestClient
) -> None:
    """The timeline's event list shows each failed attempt of a step (StepAttemptFailed)."""

    def flaky(step_input: StepInput) -> str:
        raise TimeoutError(f"no answer for {step_input.input}")

    workflow = Workflow(name="Flaky", db=seeded.db, steps=[Step(executor=flaky, max_retries=1)])
    workflow.run(input="third question", session_id="alice-s", user_id="alice")
    info = admin.get("/api/info").json()
    assert "StepAttemptFailed" in info["event_types"]
    page = admin.get(
        "/api/sessions/alice-s/events", params={"event_type": "StepAttemptFailed"}
    ).json()
    schemas.EventsPage.model_validate(page)
    attempts = [(e["payload"]["attempt"], e["payload"]["error"]) for e in page["events"]]
    assert attempts == [(1, "no answer for third question"), (2, "no answer for third question")]
    assert scoped.get("/api/sessions/alice-s/events", headers=as_user("bob")).status_code == 404
