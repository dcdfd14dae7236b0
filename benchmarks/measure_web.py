"""What the HTTP API costs over the Python call it makes, and over HTTP itself.

One SQLite store holds a session of ``--runs`` runs of a three-step workflow.
The app (``kern.web.create_app``, admin) is served by uvicorn on a loopback
port, beside a bare Starlette app on the same server that answers with the
same bytes already serialized (the floor: HTTP, uvicorn and httpx, nothing of
Kern's). For each read, one round makes ``--calls`` calls of each contender,
interleaved, the order rotating each round:

- ``python``: the KernDb call and ``json.dumps`` of what the endpoint returns;
- ``floor``: GET of the bare app's canned response, as large;
- ``api``: GET of the Kern endpoint, over one keep-alive httpx connection.

Printed: milliseconds per call (median over rounds), the ratio api/python,
what the API adds over the floor, and what is left once the Python call and
the floor are taken away (the app's own cost: routing, checking parameters,
the thread hop). Run:

    .venv/bin/python benchmarks/measure_web.py [--rounds 9] [--calls 50] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.responses import Response
from timing import interleave, median, ms, paired_ratio

from kern.db.sqlite import SqliteDb
from kern.web import create_app
from kern.workflow import StepInput, Workflow

SESSION = "bench-session"


def research(step_input: StepInput) -> str:
    return f"notes on {step_input.input}: " + "n" * 1000


def summarize(step_input: StepInput) -> str:
    return "summary: " + str(step_input.previous_step_content)[:1000]


def tally(step_input: StepInput) -> str:
    return f"{len(str(step_input.previous_step_content))} characters"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as place:
        db = SqliteDb(Path(place) / "kern.db")
        workflow = Workflow(name="Bench", db=db, steps=[research, summarize, tally])
        run_ids = [
            workflow.run(input=f"topic {n} " + "i" * 2000, session_id=SESSION).run_id
            for n in range(args.runs)
        ]
        last, middle = run_ids[-1], run_ids[len(run_ids) // 2]
        assert last is not None and middle is not None
        reads: dict[str, tuple[str, Callable[[], Any]]] = {
            "session": (f"/api/sessions/{SESSION}", lambda: db.get_session(SESSION)),
            "session as of the middle run": (
                f"/api/sessions/{SESSION}?as_of={middle}",
                lambda: db.get_session(SESSION, as_of=middle),
            ),
            "step view": (
                f"/api/sessions/{SESSION}/runs/{last}/steps/1",
                lambda: db.get_step_view(SESSION, last, 1),
            ),
            "events page (100)": (
                f"/api/sessions/{SESSION}/events?limit=100",
                lambda: db.get_log(SESSION, limit=100),
            ),
            "sessions list": ("/api/sessions", lambda: db.get_sessions(limit=20, page=1)),
        }
        app = create_app(db, admin=True)
        canned: dict[str, bytes] = {}
        floor_app = FastAPI()

        @floor_app.get("/floor/{name}")
        def floor(name: str) -> Response:
            return Response(canned[name], media_type="application/json")

        app.mount("/bare", floor_app)
        print(f"kern.web on SQLite, a session of {args.runs} runs; {args.calls} calls a round,")
        print(f"{args.rounds} rounds interleaved; ms per call (median)\n")
        print(
            "| read | python | floor (HTTP) | api | api / python | api - floor "
            "| api - python - floor |"
        )
        print("|---|---|---|---|---|---|---|")
        with serving(app) as base, httpx.Client(base_url=base) as client:
            for index, (name, (url, call)) in enumerate(reads.items()):
                canned[str(index)] = client.get(url).content

                def python(call: Callable[[], Any] = call) -> None:
                    for _ in range(args.calls):
                        json.dumps(_jsonable(call()))

                def floor_calls(key: str = str(index)) -> None:
                    for _ in range(args.calls):
                        client.get(f"/bare/floor/{key}").raise_for_status()

                def api(url: str = url) -> None:
                    for _ in range(args.calls):
                        client.get(url).raise_for_status()

                times = interleave(
                    {"python": python, "floor": floor_calls, "api": api}, args.rounds
                )
                per = {k: median(v) / args.calls for k, v in times.items()}
                print(
                    f"| {name} | {ms(per['python'])} | {ms(per['floor'])} | {ms(per['api'])} "
                    f"| {paired_ratio(times['api'], times['python']):.2f}x "
                    f"| {ms(per['api'] - per['floor'])} "
                    f"| {ms(per['api'] - per['python'] - per['floor'])} |"
                )
        db.close()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


if __name__ == "__main__":
    main()
