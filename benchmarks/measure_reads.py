"""Items 5, 6 and 8: reading a long session back, as of a past point, and auditing it.

- 5: ``get_session`` with every run, on a new db object (nothing cached), vs
  Agno's ``get_session`` of a session with as many runs; and the peak memory
  of that call (tracemalloc, in a separate call so tracing does not slow the
  timed one) against the stored size of the session's events.
- 6: as-of reads at the middle of the long session (by version, by time), the
  as-of read on a new db object against a plain one of the whole session,
  ``resolve_as_of`` of a time, and ``get_step_view`` of a middle run.
- 8: ``export`` and ``verify`` of the long session, in events per second.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import agno_side
from report import Row, at_most
from stores import Backend
from timing import interleave, median, megabytes, ms, paired_ratio, per_second, timed

from kern.db import KernDb
from kern.domain.events import RunStarted


def _peak(call: Callable[[], object]) -> int:
    """Peak bytes allocated during ``call``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _kern_cold(backend: Backend, session_id: str, *, trace: bool = False) -> float:
    """Seconds (or with ``trace``, peak bytes) of get_session on a new db object."""
    with backend.kern_db() as db:
        if trace:
            return _peak(lambda: db.get_session(session_id))
        return timed(lambda: db.get_session(session_id))


def get_session(backend: Backend, session_id: str, runs: int, repeats: int) -> list[Row]:
    """Item 5: Kern (cold) vs Agno, time and peak memory."""
    with backend.kern_db() as db:
        stored = sum(len(r.state) for r in db.store.read_records(session_id))
    if not agno_side.installed():
        return _kern_only(backend, session_id, runs, repeats, stored)
    agno_db = backend.agno_db()
    agno_session = f"agno-{runs}"
    agno_side.populate(agno_db, agno_session, runs)
    kern_times, agno_times = [], []
    for _ in range(repeats):
        kern_times.append(_kern_cold(backend, session_id))
        agno_times.append(timed(lambda: agno_side.stored_runs(agno_db, agno_session)))
    kern_peak = _kern_cold(backend, session_id, trace=True)
    agno_peak = _peak(lambda: agno_side.stored_runs(agno_db, agno_session))
    agno_db.close()
    ratio = paired_ratio(kern_times, agno_times)
    memory = kern_peak / stored
    return [
        Row(
            5,
            f"`get_session` with all {runs:,} runs, new db object (nothing cached); "
            "ratio = Kern / Agno",
            backend.kind,
            ms(median(kern_times)),
            f"{ms(median(agno_times))} Agno",
            ratio,
            *at_most(ratio, 0.5),
        ),
        Row(
            5,
            f"peak memory of that `get_session` ({runs:,} runs); ratio = peak / stored events",
            backend.kind,
            megabytes(kern_peak),
            f"{megabytes(stored)} stored events",
            memory,
            *at_most(memory, 2.0),
        ),
        Row(
            5,
            f"Agno's peak memory for its `get_session` ({runs:,} runs)",
            backend.kind,
            megabytes(agno_peak),
        ),
    ]


def _kern_only(
    backend: Backend, session_id: str, runs: int, repeats: int, stored: int
) -> list[Row]:
    """Item 5 without Agno: Kern's time and memory alone."""
    seconds = median([_kern_cold(backend, session_id) for _ in range(repeats)])
    peak = _kern_cold(backend, session_id, trace=True)
    return [
        Row(
            5,
            f"`get_session` with all {runs:,} runs, new db object; " + agno_side.MISSING,
            backend.kind,
            ms(seconds),
        ),
        Row(
            5,
            f"peak memory of that `get_session` ({runs:,} runs); ratio = peak / stored events",
            backend.kind,
            megabytes(peak),
            f"{megabytes(stored)} stored events",
            peak / stored,
            *at_most(peak / stored, 2.0),
        ),
    ]


def _middle(db: KernDb, session_id: str) -> tuple[int, Any, str]:
    """The middle version, its timestamp, and the run_id of a run started near it."""
    events = db.get_events(session_id)
    version = len(events) // 2
    run = next(e for e in events[version:] if isinstance(e, RunStarted))
    return version, events[version - 1].timestamp, run.run_id


def as_of(backend: Backend, session_id: str, repeats: int) -> list[Row]:
    """Item 6: as-of reads at the middle of the long session."""
    with backend.kern_db() as db:
        version, moment, run_id = _middle(db, session_id)
        total = len(db.get_events(session_id))
        calls = {
            f"`get_session(as_of={version:,})` (a version), warm": lambda: db.get_session(
                session_id, as_of=version
            ),
            "`get_session(as_of=<datetime>)` (the same point by time), warm": (
                lambda: db.get_session(session_id, as_of=moment)
            ),
            "`resolve_as_of(<datetime>)`": lambda: db.resolve_as_of(session_id, moment),
            "`get_step_view(<middle run>, 1)`, warm": lambda: db.get_step_view(
                session_id, run_id, 1
            ),
        }
        times = interleave(calls, repeats)
    cold, plain = [], []
    for _ in range(max(2, repeats // 3)):
        with backend.kern_db() as fresh:
            cold.append(timed(lambda fresh=fresh: fresh.get_session(session_id, as_of=version)))
        with backend.kern_db() as fresh:
            plain.append(timed(lambda fresh=fresh: fresh.get_session(session_id)))
    times[f"`get_session(as_of={version:,})`, new db object (nothing cached)"] = cold
    ratio = paired_ratio(cold, plain)
    versus_plain = Row(
        6,
        f"as-of in a {total:,}-event session: `get_session(as_of={version:,})` vs a plain "
        "`get_session` of the whole session, both on a new db object; ratio = as-of / plain",
        backend.kind,
        ms(median(cold)),
        f"{ms(median(plain))} plain",
        ratio,
        *at_most(ratio, 2.0),
    )
    rows = []
    for what, series in times.items():
        value = median(series)
        target, met = ("< 10 ms", value < 0.010) if backend.kind == "postgres" else ("", None)
        rows.append(
            Row(
                6,
                f"as-of in a {total:,}-event session: {what}",
                backend.kind,
                ms(value),
                "",
                None,
                target,
                met,
            )
        )
    return [*rows, versus_plain]


def audit(backend: Backend, session_id: str, repeats: int) -> list[Row]:
    """Item 8: export and verify throughput on the long session."""
    with backend.kern_db() as db:
        events = len(db.store.read_records(session_id))
        times = interleave(
            {
                "export": lambda: sum(1 for _ in db.export(session_id)),
                "verify": lambda: db.verify(session_id),
            },
            repeats,
        )
    rows = []
    for what, series in times.items():
        rate = events / median(series)
        rows.append(
            Row(
                8,
                f"`{what}` of a {events:,}-event session, events per second",
                backend.kind,
                per_second(events, median(series)),
                "",
                None,
                ">= 20,000/s",
                rate >= 20_000,
            )
        )
    return rows
