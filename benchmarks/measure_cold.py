"""The first run on a new db object against a warm run, at run 1,000 and 10,000.

Each session is built first (see :mod:`workload`: events appended in chunks,
so it has no snapshot yet), then one run through a db object writes its first
snapshot, as any run at a run boundary would. Then, round after round, the
same session gets one run through a new db object (cold: it starts from the
snapshot plus the events after it) and one through a db object kept open
(warm: its cache holds the session). The ratio is cold over warm, paired by
round. A third time per round is the first run on a new db object after the
snapshot was deleted (it reads the whole session and writes a new one): the
cost snapshots save. Last, the hot path: blocks of ten warm runs of which one
writes a snapshot (as a session does every ten runs) against blocks of ten
that write none, in turn, as mean per run (a median would hide the writes).

    .venv/bin/python benchmarks/measure_cold.py --sqlite --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from typing import Any

from measure_runs import build
from stores import Backend
from timing import median, ms, paired_ratio, timed
from workload import INPUT, kern_workflow, template_run

from kern.adapters.stores import recorder


def measure(backend: Backend, sizes: list[int], rounds: int) -> list[str]:
    """Table lines for one backend: cold and warm medians and their ratio per size."""
    sessions = {runs: f"cold-{runs}" for runs in sizes}
    build(backend, template_run(), {sid: runs for runs, sid in sessions.items()})
    times: dict[str, dict[int, list[float]]] = {
        kind: {runs: [] for runs in sizes} for kind in ("cold", "warm", "none", "on", "off")
    }
    with backend.kern_db() as warm_db:
        warm = kern_workflow(warm_db)
        for sid in sessions.values():
            warm.run(input=INPUT, session_id=sid)  # writes the first snapshot
        for _ in range(rounds):
            for runs, sid in sessions.items():
                times["cold"][runs].append(_first_run(backend, sid, drop=False))
                times["none"][runs].append(_first_run(backend, sid, drop=True))
                warm.run(input=INPUT, session_id=sid)  # warm again after the cold runs' appends
                gc.collect()
                times["warm"][runs].append(timed(lambda s=sid: warm.run(input=INPUT, session_id=s)))
                for kind in ("on", "off"):  # the hot path: a block of ten runs each
                    times[kind][runs] += _block(warm_db, warm, sid, snapshots=kind == "on")
    lines = []
    for runs in sizes:
        cold, warm_times, none = times["cold"][runs], times["warm"][runs], times["none"][runs]
        on, off = statistics.fmean(times["on"][runs]), statistics.fmean(times["off"][runs])
        lines.append(
            f"| {backend.kind} | {runs:,} | {ms(median(cold))} | {ms(median(warm_times))} "
            f"| {paired_ratio(cold, warm_times):.2f}x | {ms(median(none))} "
            f"| {paired_ratio(none, warm_times):.1f}x | {ms(on)} vs {ms(off)} ({on / off:.2f}x) |"
        )
    return lines


def _block(db: Any, workflow: Any, session_id: str, *, snapshots: bool) -> list[float]:
    """Seconds of ten warm runs: with ``snapshots``, exactly one of them writes one
    (as ten runs of a three-step workflow do); without, none does."""
    saved = recorder.SNAPSHOT_EVERY
    recorder.SNAPSHOT_EVERY = saved if snapshots else 10**12
    try:
        db.store.stream(session_id).snapshot_version = 0  # the first run of the block writes
        return [timed(lambda: workflow.run(input=INPUT, session_id=session_id)) for _ in range(10)]
    finally:
        recorder.SNAPSHOT_EVERY = saved


def _first_run(backend: Backend, session_id: str, *, drop: bool) -> float:
    """Seconds of the first run on a new db object (``drop``: after deleting the snapshot)."""
    with backend.kern_db() as db:
        store: Any = db.store
        if drop:
            store.drop_snapshot(store.snapshot_row(session_id))
        run = kern_workflow(db).run
        # The db objects closed before leave garbage (a whole session, for the runs
        # without a snapshot): collect it now, not inside the timed run.
        gc.collect()
        return timed(lambda: run(input=INPUT, session_id=session_id))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    backends = [Backend.sqlite()] if args.sqlite else []
    if args.postgres:
        backends.append(Backend.postgres(args.postgres))
    print(
        "| store | at run | first run, new db object | warm run | cold / warm "
        "| first run, no snapshot | no snapshot / warm | hot path: snapshots on vs off (mean) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for backend in backends:
        try:
            for line in measure(backend, args.sizes, args.rounds):
                print(line, flush=True)
        finally:
            backend.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
