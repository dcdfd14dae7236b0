"""Items 2, 3 and 4: the cost of ``Workflow.run`` as a session grows.

Each session is built first (see :mod:`workload`), then runs are timed on
sessions of different lengths, interleaved, on one long-lived db object
(warm: its event cache holds what it already read). The cold rows time the
first run through a new db object, which reads the whole session from the
database, against the cold first run at run 10 and against that same db
object's second run (warm, same session, timed right after). Agno runs the
same steps on its SqliteDb or PostgresDb.
"""

from __future__ import annotations

from collections.abc import Sequence

import agno_side
from report import Row, at_least, at_most
from stores import Backend
from timing import interleave, median, ms, paired_ratio, timed
from workload import INPUT, Template, kern_workflow, populate, session_events


def build(backend: Backend, template: Template, sizes: dict[str, int]) -> None:
    """Create sessions ``{session_id: runs}`` on the backend."""
    with backend.kern_db() as db:
        for session_id, runs in sizes.items():
            populate(db, session_id, list(session_events(session_id, runs, template, 200)))


def _label(runs: int) -> str:
    return f"{runs:,}"


def warm(backend: Backend, sessions: dict[int, str], rounds: int, *, history: bool) -> list[Row]:
    """Item 2 (or 4 with ``history``): warm runs at each session length."""
    item = 4 if history else 2
    limit = 1.2  # issue #12: history context and runs at 10,000 within 1.2x run 10
    with backend.kern_db() as db:
        workflow = kern_workflow(db, history=history)
        calls = {
            runs: (lambda sid=sid: workflow.run(input=INPUT, session_id=sid))
            for runs, sid in sessions.items()
        }
        for call in calls.values():
            call()  # the first read of each session fills the cache
        times = interleave({str(k): v for k, v in calls.items()}, rounds)
    sizes = sorted(sessions)
    base = times[str(sizes[0])]
    what = (
        "`Workflow.run`, history on (`num_history_runs=5`, steps read the context)"
        if history
        else "cost Kern adds to `Workflow.run` (do-nothing steps), warm"
    )
    rows = []
    for runs in sizes:
        series = times[str(runs)]
        row = Row(item, f"{what}, at run {_label(runs)}", backend.kind, ms(median(series)))
        if runs != sizes[0]:
            ratio = paired_ratio(series, base)
            target, met = at_most(ratio, limit) if runs == sizes[-1] else ("", None)
            row = Row(
                item,
                row.measurement,
                row.store,
                row.value,
                f"{ms(median(base))} at run {_label(sizes[0])}",
                ratio,
                target,
                met,
            )
        rows.append(row)
    return rows


def cold(backend: Backend, sessions: dict[int, str], repeats: int) -> list[Row]:
    """Item 2, cold: the first run through a new db object, per session length, against
    the cold run at run 10 and against that db object's second (warm) run."""
    times: dict[int, list[float]] = {runs: [] for runs in sessions}
    warm: dict[int, list[float]] = {runs: [] for runs in sessions}
    for _ in range(repeats):
        for runs, sid in sessions.items():
            with backend.kern_db() as db:
                run = kern_workflow(db).run
                times[runs].append(timed(lambda run=run, sid=sid: run(input=INPUT, session_id=sid)))
                warm[runs].append(timed(lambda run=run, sid=sid: run(input=INPUT, session_id=sid)))
    sizes = sorted(sessions)
    what = "cost Kern adds to `Workflow.run`, cold (first run of a new db object)"
    rows = []
    for runs in sizes:
        value = ms(median(times[runs]))
        if runs != sizes[0]:
            base = f"{ms(median(times[sizes[0]]))} cold at run {sizes[0]}"
            ratio = paired_ratio(times[runs], times[sizes[0]])
            rows.append(Row(2, f"{what}, at run {_label(runs)}", backend.kind, value, base, ratio))
        else:
            rows.append(Row(2, f"{what}, at run {_label(runs)}", backend.kind, value))
        ratio = paired_ratio(times[runs], warm[runs])
        target, met = at_most(ratio, 3.0) if runs >= 1_000 else ("", None)
        rows.append(
            Row(
                2,
                f"{what} vs its second run (warm, the same session), at run {_label(runs)}",
                backend.kind,
                value,
                f"{ms(median(warm[runs]))} warm",
                ratio,
                target,
                met,
            )
        )
    return rows


def versus_agno(
    backend: Backend, template: Template, sizes: Sequence[int], rounds: int
) -> list[Row]:
    """Item 3: Agno's ``Workflow.run`` against Kern's at the same session lengths."""
    agno_db = backend.agno_db()
    kern_sessions = {runs: f"vs-agno-{runs}" for runs in sizes}
    build(backend, template, {sid: runs for runs, sid in kern_sessions.items()})
    for runs in sizes:
        agno_side.populate(agno_db, f"agno-{runs}", runs)
        stored = agno_side.stored_runs(agno_db, f"agno-{runs}")
        assert stored == runs, f"Agno session holds {stored} runs, expected {runs}"
    agno_workflow = agno_side.agno_workflow(agno_db)
    with backend.kern_db() as db:
        workflow = kern_workflow(db)
        calls = {}
        for runs in sizes:
            sid, aid = kern_sessions[runs], f"agno-{runs}"
            calls[f"kern {runs}"] = lambda sid=sid: workflow.run(input=INPUT, session_id=sid)
            calls[f"agno {runs}"] = lambda aid=aid: agno_workflow.run(input=INPUT, session_id=aid)
        for call in calls.values():
            call()
        times = interleave(calls, rounds)
    agno_db.close()
    rows = []
    for runs in sizes:
        kern, agno = times[f"kern {runs}"], times[f"agno {runs}"]
        ratio = paired_ratio(agno, kern)
        target, met = ("", None)
        if runs == max(sizes) and backend.kind == "postgres":
            target, met = at_least(ratio, 50)
        rows.append(
            Row(
                3,
                f"Agno 3.1.10 `Workflow.run` at run {_label(runs)} (reads all {runs:,} earlier "
                "runs); ratio = Agno / Kern",
                backend.kind,
                ms(median(agno)),
                f"{ms(median(kern))} Kern",
                ratio,
                target,
                met,
            )
        )
    return rows
