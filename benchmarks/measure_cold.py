"""The first run on a new db object against a warm run, at run 1,000 and 10,000.

Each session is built first (see :mod:`workload`: events appended in chunks,
so it has no snapshot yet), then one run through a db object writes its first
snapshot, as any run at a run boundary would. Then, round after round, the
same session gets one run through a new db object (cold: it starts from the
snapshot plus the events after it) and one through a db object kept open
(warm: its cache holds the session). The ratio is cold over warm, paired by
round.

    .venv/bin/python benchmarks/measure_cold.py --sqlite --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys

from measure_runs import build
from stores import Backend
from timing import median, ms, paired_ratio, timed
from workload import INPUT, kern_workflow, template_run


def measure(backend: Backend, sizes: list[int], rounds: int) -> list[str]:
    """Table lines for one backend: cold and warm medians and their ratio per size."""
    sessions = {runs: f"cold-{runs}" for runs in sizes}
    build(backend, template_run(), {sid: runs for runs, sid in sessions.items()})
    lines = []
    with backend.kern_db() as warm_db:
        warm = kern_workflow(warm_db)
        for sid in sessions.values():
            warm.run(input=INPUT, session_id=sid)  # writes the first snapshot
        cold_times: dict[int, list[float]] = {runs: [] for runs in sizes}
        warm_times: dict[int, list[float]] = {runs: [] for runs in sizes}
        for _ in range(rounds):
            for runs, sid in sessions.items():
                with backend.kern_db() as db:
                    first = kern_workflow(db).run
                    cold_times[runs].append(
                        timed(lambda f=first, s=sid: f(input=INPUT, session_id=s))
                    )
                warm.run(input=INPUT, session_id=sid)  # warm again after the cold run's append
                warm_times[runs].append(timed(lambda s=sid: warm.run(input=INPUT, session_id=s)))
    for runs in sizes:
        ratio = paired_ratio(cold_times[runs], warm_times[runs])
        lines.append(
            f"| {backend.kind} | {runs:,} | {ms(median(cold_times[runs]))} "
            f"| {ms(median(warm_times[runs]))} | {ratio:.2f}x |"
        )
    return lines


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
    print("| store | at run | first run, new db object | warm run | cold / warm |")
    print("|---|---|---|---|---|")
    for backend in backends:
        try:
            for line in measure(backend, args.sizes, args.rounds):
                print(line, flush=True)
        finally:
            backend.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
