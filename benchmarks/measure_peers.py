"""Items 9, 10 and 11: Kern beside DBOS Transact and LangGraph, on the same store kind.

- 9: the cost of one run at run 10 and run 1,000 of a session (a LangGraph
  thread; for DBOS the workflows of the "session"), interleaved with Kern's
  warm run on sessions of the same length; ratio = peer / Kern.
- 10: reading the 1,000-run session back: Kern's ``get_session`` on a new db
  object, LangGraph's ``get_state_history`` of the thread, DBOS's listing of
  the session's workflows and each one's steps; interleaved, ratio = peer / Kern.
- 11: stored bytes per run, against the run's own content (the input and
  three outputs): Kern's event states, the peers' payload columns.

The peers' sessions are built from real runs (one ``invoke`` or workflow
each), Kern's from replayed events (:mod:`workload`); every side then gets
the same number of further runs, so the sessions read back in 10 and
measured in 11 hold as many runs on every side.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import measure_runs
from peers import Dbos, LangGraph, missing
from report import Row, at_least, at_most
from stores import Backend
from timing import interleave, median, ms, paired_ratio, progress, timed
from workload import INPUT, OUTPUTS, Template, kern_workflow

CONTENT = len(INPUT) + sum(len(text) for text in OUTPUTS)  # characters of one run's own text
Side = Dbos | LangGraph
TARGETS = {"dbos": 5.0, "langgraph": 4.0}  # at least this many times Kern's time at run 1,000


def _names(backend: Backend) -> dict[str, str]:
    saver = "SqliteSaver" if backend.kind == "sqlite" else "PostgresSaver"
    return {"dbos": "DBOS Transact 3.4.0", "langgraph": f"LangGraph + {saver}"}


def measure(
    backend: Backend,
    template: Template,
    sizes: Sequence[int],
    rounds: int,
    read_repeats: int,
    items: set[int],
) -> list[Row]:
    """The selected items of 9, 10 and 11 on one backend."""
    names = _names(backend)
    rows = [
        Row(item, f"{names[peer]}: {why}", backend.kind, "not measured")
        for peer in ("dbos", "langgraph")
        if (why := missing(peer))
        for item in sorted(items & {9, 10, 11})
    ]
    opened: dict[str, type[Dbos] | type[LangGraph]] = {"dbos": Dbos, "langgraph": LangGraph}
    with contextlib.ExitStack() as stack:
        sides: dict[str, Side] = {}
        for peer, kind in opened.items():
            if not missing(peer):
                sides[peer] = stack.enter_context(kind(backend))
        sessions = {runs: f"peers-{runs}" for runs in sizes}
        measure_runs.build(backend, template, {sid: runs for runs, sid in sessions.items()})
        for peer, side in sides.items():
            for runs, sid in sessions.items():
                progress(f"{backend.kind}: {runs:,} {peer} runs")
                side.build(sid, runs)
        with backend.kern_db() as db:
            workflow = kern_workflow(db)
            calls: dict[str, Callable[[], object]] = {}
            for runs, sid in sessions.items():
                calls[f"kern {runs}"] = lambda sid=sid: workflow.run(input=INPUT, session_id=sid)
                for peer, side in sides.items():
                    calls[f"{peer} {runs}"] = lambda side=side, sid=sid: side.run(sid)
            for call in calls.values():
                call()  # Kern's cache holds each session from here on
            times = interleave(calls, rounds)
        if 9 in items:
            rows += _per_run(backend, sides, sizes, times)
        long = sessions[max(sizes)]
        if 10 in items:
            rows += _read_back(backend, sides, long, read_repeats)
        if 11 in items:
            rows += _stored(backend, sides, long)
    return rows


def _per_run(
    backend: Backend, sides: dict[str, Side], sizes: Sequence[int], times: dict[str, list[float]]
) -> list[Row]:
    rows = []
    names = _names(backend)
    for peer in sides:
        for runs in sizes:
            kern, theirs = times[f"kern {runs}"], times[f"{peer} {runs}"]
            ratio = paired_ratio(theirs, kern)
            target, met = at_least(ratio, TARGETS[peer]) if runs == max(sizes) else ("", None)
            rows.append(
                Row(
                    9,
                    f"{names[peer]}: one run at run {runs:,} of a session, interleaved with "
                    "Kern's warm run; ratio = peer / Kern",
                    backend.kind,
                    ms(median(theirs)),
                    f"{ms(median(kern))} Kern",
                    ratio,
                    target,
                    met,
                )
            )
    return rows


def _kern_read(backend: Backend, session_id: str) -> float:
    with backend.kern_db() as db:
        return timed(lambda: db.get_session(session_id))


def _read_back(
    backend: Backend, sides: dict[str, Side], session_id: str, repeats: int
) -> list[Row]:
    with backend.kern_db() as db:
        session = db.get_session(session_id)
        runs = len(session.runs or []) if session else 0
    calls: dict[str, Callable[[], object]] = {"kern": lambda: _kern_read(backend, session_id)}
    calls |= {peer: (lambda side=side: side.read(session_id)) for peer, side in sides.items()}
    times = interleave(calls, repeats)
    what = {
        "dbos": "`list_workflows` of the session's workflows, then `list_workflow_steps` of each",
        "langgraph": "`get_state_history` of the thread (every checkpoint)",
    }
    names = _names(backend)
    rows = [
        Row(
            10,
            f"read back a {runs:,}-run session: Kern `get_session` on a new db object",
            backend.kind,
            ms(median(times["kern"])),
        )
    ]
    for peer in sides:
        ratio = paired_ratio(times[peer], times["kern"])
        rows.append(
            Row(
                10,
                f"{names[peer]}: read back the same {runs:,} runs, {what[peer]}; "
                "ratio = peer / Kern",
                backend.kind,
                ms(median(times[peer])),
                f"{ms(median(times['kern']))} Kern",
                ratio,
            )
        )
    return rows


def _stored(backend: Backend, sides: dict[str, Side], session_id: str) -> list[Row]:
    with backend.kern_db() as db:
        records = db.store.read_records(session_id)
    run_records = [r for r in records if not r.topic.endswith(":SessionStarted")]
    runs = sum(1 for r in records if r.topic.endswith(":RunStarted"))
    kern = sum(len(r.state) for r in run_records) / runs
    names = _names(backend)
    content = f"{CONTENT:,} chars of content"
    rows = [
        Row(
            11,
            f"Kern: event bytes per run (the stored state of a run's {len(run_records) // runs} "
            f"events, averaged over {runs:,} runs); ratio = bytes / the run's own content",
            backend.kind,
            f"{kern:,.0f} B",
            content,
            kern / CONTENT,
            *at_most(kern / CONTENT, 1.3),
        )
    ]
    what = {
        "dbos": "inputs, outputs and errors of its workflow and step rows",
        "langgraph": "checkpoints, metadata, blobs and writes",
    }
    for peer, side in sides.items():
        size = side.stored(session_id) / runs
        rows.append(
            Row(
                11,
                f"{names[peer]}: stored bytes per run ({what[peer]}); ratio = bytes / content",
                backend.kind,
                f"{size:,.0f} B ({size / kern:.2f}x Kern)",
                content,
                size / CONTENT,
            )
        )
    return rows
