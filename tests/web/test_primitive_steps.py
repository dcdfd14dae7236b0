"""The step endpoint and the run read model of a run with step primitives."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kern.web import create_app
from kern.workflow import Parallel, Steps, Workflow
from tests.conftest import echo, shout
from tests.web.conftest import Seeded


def test_an_inner_step_is_addressed_by_its_path(seeded: Seeded) -> None:
    flow = Workflow(
        name="Nested",
        db=seeded.db,
        steps=[echo, Steps(name="inner", steps=[shout, Parallel(echo, shout)])],
    )
    run = flow.run("hi", session_id="nested", run_id="r")
    with TestClient(create_app(seeded.db, admin=True)) as client:
        body = client.get("/api/sessions/nested/runs/r/steps/2.2.1").json()
        assert body == seeded.db.get_step_view("nested", "r", "2.2.1").to_json()
        assert (body["step_name"], body["path"], body["step_index"]) == ("echo", "2.2.1", 1)
        assert client.get("/api/sessions/nested/runs/r/steps/1").json()["step_name"] == "inner"
        for bad in ("2.0", "2..1", "02.1", "2.x", "-1"):
            response = client.get(f"/api/sessions/nested/runs/r/steps/{bad}")
            assert response.status_code == 400, bad
            assert "step_index" in response.text
        assert client.get("/api/sessions/nested/runs/r/steps/2.9").status_code == 404
        runs = client.get("/api/sessions/nested").json()["session"]["runs"]
        assert runs[0]["step_results"][1]["steps"][1]["steps"][0]["content"] == "echo: hi"
    assert run.step_results[1].steps is not None
