"""Items 5, 6 and 8: reading a long session back, as of a past point, and auditing it.

- 5: ``get_session`` with every run, on a new db object (nothing cached), vs
  Agno's ``get_session`` of a session with as many runs; and the peak memory
  of that call (tracemalloc, in a separate call so tracing does not slow the
  timed one) against the stored size of the session's events.
- 6: as-of reads at the middle of the long session (by version, by time),
  ``resolve_as_of`` of a time, and ``get_step_view`` of a middle run.
- 8: ``export`` and ``verify`` of the long session, in events per second.
"""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import Callable, Sequence
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


def get_session(backend: Backend, session_ids: Sequence[str], repeats: int) -> list[Row]:
    """Item 5: Kern (cold) vs Agno, time and peak memory, for each session."""
    rows: list[Row] = []
    agno_db = backend.agno_db() if agno_side.installed() else None
    try:
        for session_id in session_ids:
            rows += _get_session(backend, agno_db, session_id, repeats)
    finally:
        if agno_db is not None:
            agno_db.close()
    return rows


def _get_session(backend: Backend, agno_db: Any, session_id: str, repeats: int) -> list[Row]:
    with backend.kern_db() as db:
        stored = sum(len(r.state) for r in db.store.read_records(session_id))
        session = db.get_session(session_id)
        runs = len(session.runs or []) if session else 0
    if agno_db is None:
        return _kern_only(backend, session_id, runs, repeats, stored)
    agno_id = f"agno-read-{session_id}"
    agno_side.populate(agno_db, agno_id, runs)
    kern_times, agno_times = [], []
    for _ in range(repeats):
        kern_times.append(_kern_cold(backend, session_id))
        agno_times.append(timed(lambda: agno_side.stored_runs(agno_db, agno_id)))
    kern_peak = _kern_cold(backend, session_id, trace=True)
    agno_peak = _peak(lambda: agno_side.stored_runs(agno_db, agno_id))
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
    """Item 6: as-of reads at the middle of the long session; the as-of
    ``get_session`` against a plain ``get_session`` of the whole session, interleaved."""
    with backend.kern_db() as db:
        version, moment, run_id = _middle(db, session_id)
        total = len(db.get_events(session_id))
        plain = "plain `get_session` (the whole session), warm"
        calls = {
            f"`get_session(as_of={version:,})` (a version), warm": lambda: db.get_session(
                session_id, as_of=version
            ),
            "`get_session(as_of=<datetime>)` (the same point by time), warm": (
                lambda: db.get_session(session_id, as_of=moment)
            ),
            plain: lambda: db.get_session(session_id),
            "`resolve_as_of(<datetime>)`": lambda: db.resolve_as_of(session_id, moment),
            "`get_step_view(<middle run>, 1)`, warm": lambda: db.get_step_view(
                session_id, run_id, 1
            ),
        }
        times = interleave(calls, repeats)
    plain_cold = "plain `get_session`, new db object"
    cold = interleave(
        {
            f"`get_session(as_of={version:,})`, new db object (nothing cached)": lambda: _fresh(
                backend, session_id, version
            ),
            plain_cold: lambda: _fresh(backend, session_id, None),
        },
        max(2, repeats // 6),  # a cold read of the whole long session takes seconds
    )
    rows = []
    for series, baseline in ((times, plain), (cold, plain_cold)):
        base = series[baseline]
        for what, values in series.items():
            row = Row(
                6, f"as-of in a {total:,}-event session: {what}", backend.kind, ms(median(values))
            )
            if what.startswith("`get_session(as_of="):
                ratio = paired_ratio(values, base)
                target, met = at_most(ratio, 2.0)
                row = dataclasses.replace(
                    row,
                    baseline=f"{ms(median(base))} plain",
                    ratio=ratio,
                    target=target,
                    met=met,
                )
            rows.append(row)
    return rows


def _fresh(backend: Backend, session_id: str, version: int | None) -> None:
    """get_session (as of ``version``, or of everything) on a new db object."""
    with backend.kern_db() as db:
        if version is None:
            db.get_session(session_id)
        else:
            db.get_session(session_id, as_of=version)


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
