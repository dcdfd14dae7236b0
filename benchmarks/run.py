"""What recording a workflow costs: Kern on each store against the bare step functions.

Measured in one process, one after the other:

* baseline: the three step functions called directly in a loop (no Kern);
* ``Workflow.run`` on ``InMemoryDb``, on ``SqliteDb`` (a file in a temp
  directory) and, with ``--postgres URL``, on ``PostgresDb`` (a schema made for
  the run and dropped after it), every run into one session, with history off and with
  ``add_workflow_history_to_steps=True, num_history_runs=5``;
* ``get_session`` / ``get_sessions`` latency on a store holding many sessions.

Each measurement is repeated on a fresh store and the median is kept. Nothing
here asserts a time; see benchmarks/README.md for how to read the ratios.

    .venv/bin/python benchmarks/run.py [--runs 200] [--repeats 5] [--sessions 500]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import kern
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.sqlite import SqliteDb
from kern.workflow import StepInput, Workflow

# -- the workflow under test -------------------------------------------------------


def research(step_input: StepInput) -> str:
    """First step: turn the topic into findings."""
    return f"Findings on {step_input.input}: {len(str(step_input.input))} sources"


def summarize(step_input: StepInput) -> str:
    """Second step: summarise what the first step found."""
    return f"Summary: {str(step_input.previous_step_content).upper()}"


def tally(step_input: StepInput) -> str:
    """Third step: count runs in the session state and pass the summary on."""
    step_input.session_state["runs"] = step_input.session_state.get("runs", 0) + 1
    return str(step_input.previous_step_content)


STEPS = [research, summarize, tally]


def topic(i: int) -> str:
    """The input of run ``i``."""
    return f"topic {i}"


# -- measurements ---------------------------------------------------------------------


@dataclass
class Result:
    """One measured scenario: the median over repeats."""

    name: str
    runs: int
    seconds: float  # median total time of the runs
    first_ms: float  # mean ms per run over the first tenth of the runs (median repeat)
    last_ms: float  # mean ms per run over the last tenth of the runs (median repeat)

    @property
    def runs_per_second(self) -> float:
        """Throughput over the whole batch."""
        return self.runs / self.seconds


@dataclass
class Latency:
    """Median latency of one read on a populated store."""

    name: str
    store: str
    calls: int
    median_ms: float


POSTGRES_URL: str | None = None  # set by --postgres


@contextmanager
def open_store(kind: str) -> Iterator[KernDb]:
    """A fresh, empty store; SQLite lives in a temp directory removed afterwards,
    PostgreSQL in a schema of its own dropped afterwards."""
    if kind == "postgres":
        yield from _postgres_store()
        return
    if kind == "memory":
        db: KernDb = InMemoryDb()
        yield db
        db.close()
        return
    with tempfile.TemporaryDirectory(prefix="kern-bench-") as folder:
        db = SqliteDb(db_file=Path(folder) / "bench.db")
        try:
            yield db
        finally:
            db.close()


def _postgres_store() -> Iterator[KernDb]:
    import psycopg
    from psycopg import sql

    from kern.db.postgres import PostgresDb

    assert POSTGRES_URL is not None
    schema = f"kern_bench_{random.randrange(16**8):08x}"
    db = PostgresDb(POSTGRES_URL, db_schema=schema)
    try:
        yield db
    finally:
        db.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


def batch_result(name: str, repeats: list[list[float]]) -> Result:
    """Summarise per-run timings of several repeats by the repeat with the median total."""
    ranked = sorted(repeats, key=sum)
    middle = ranked[len(ranked) // 2]
    tenth = max(1, len(middle) // 10)
    return Result(
        name=name,
        runs=len(middle),
        seconds=statistics.median(sum(times) for times in repeats),
        first_ms=1000 * statistics.fmean(middle[:tenth]),
        last_ms=1000 * statistics.fmean(middle[-tenth:]),
    )


def time_each(count: int, call: Callable[[int], object]) -> list[float]:
    """Seconds taken by ``call(i)`` for i in range(count)."""
    gc.collect()
    times = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - started)
    return times


def baseline(runs: int, repeats: int) -> Result:
    """The step functions alone, with the session state kept in a plain dict."""

    def one_batch() -> list[float]:
        state: dict[str, Any] = {}

        def one_run(i: int) -> str:
            step_input = StepInput(input=topic(i), session_state=state)
            for step in STEPS:
                step_input.previous_step_content = step(step_input)
            return str(step_input.previous_step_content)

        return time_each(runs, one_run)

    return batch_result("baseline (no Kern)", [one_batch() for _ in range(repeats)])


def workflow_batch(kind: str, history: bool, runs: int) -> tuple[list[float], float]:
    """One batch on a fresh store: per-run seconds, then get_session ms on that session."""
    with open_store(kind) as db:
        workflow = Workflow(
            name="Bench Pipeline",
            db=db,
            steps=STEPS,
            session_id="bench-session",
            add_workflow_history_to_steps=history,
            num_history_runs=5,
        )
        times = time_each(runs, lambda i: workflow.run(input=topic(i)))
        read = min(time_each(3, lambda _: db.get_session("bench-session")))
    return times, 1000 * read


def workflow_runs(kind: str, history: bool, runs: int, repeats: int) -> tuple[Result, float]:
    """``Workflow.run`` ``runs`` times into one session, ``repeats`` times; medians."""
    batches = [workflow_batch(kind, history, runs) for _ in range(repeats)]
    label = f"{kind}{' + history(5)' if history else ''}"
    result = batch_result(label, [times for times, _ in batches])
    return result, statistics.median(read for _, read in batches)


def populate(db: KernDb, sessions: int) -> list[str]:
    """``sessions`` sessions of one run each, from two users; returns their ids."""
    ids = [f"session-{i:05d}" for i in range(sessions)]
    workflow = Workflow(name="Bench Pipeline", db=db, steps=STEPS)
    for i, session_id in enumerate(ids):
        workflow.run(input=topic(i), session_id=session_id, user_id=f"user-{i % 2}")
    return ids


def listing_latency(kind: str, sessions: int, repeats: int) -> list[Latency]:
    """Median latency of reads on a store with ``sessions`` sessions."""
    rng = random.Random(7)
    with open_store(kind) as db:
        ids = populate(db, sessions)
        picks = [rng.choice(ids) for _ in range(max(50, 10 * repeats))]
        reads: list[tuple[str, int, Callable[[int], object]]] = [
            ("get_session(id)", len(picks), lambda i: db.get_session(picks[i])),
            ("get_sessions()", repeats, lambda _: db.get_sessions()),
            ("get_sessions(user_id)", repeats, lambda _: db.get_sessions(user_id="user-1")),
            (
                "get_sessions(limit=20, page=3)",
                10 * repeats,
                lambda _: db.get_sessions(limit=20, page=3, sort_by="updated_at"),
            ),
        ]
        return [
            Latency(name, kind, calls, 1000 * statistics.median(time_each(calls, call)))
            for name, calls, call in reads
        ]


# -- report ----------------------------------------------------------------------------


def print_report(
    base: Result,
    results: list[Result],
    session_reads: dict[str, float],
    latencies: list[Latency],
    sessions: int,
) -> None:
    """Throughput table with ratios, then the read latencies."""
    memory = next(r for r in results if r.name == "memory")
    print(f"\nWorkflow.run, {base.runs} runs into one session (3 function steps), median")
    header = (
        f"{'scenario':<24}{'runs/s':>10}{'ms/run':>9}{'first':>8}{'last':>8}"
        f"{'x memory':>10}{'x baseline':>12}{'get_session':>13}"
    )
    print(header)
    print("-" * len(header))
    for result in [base, *results]:
        ms_per_run = 1000 * result.seconds / result.runs
        read = session_reads.get(result.name)
        print(
            f"{result.name:<24}{result.runs_per_second:>10.0f}{ms_per_run:>9.3f}"
            f"{result.first_ms:>8.3f}{result.last_ms:>8.3f}"
            f"{result.seconds / memory.seconds:>10.2f}{result.seconds / base.seconds:>12.0f}"
            f"{(f'{read:.2f} ms' if read is not None else '-'):>13}"
        )
    print(f"\nReads on a store with {sessions} sessions (one run each), median ms")
    kinds = list(dict.fromkeys(latency.store for latency in latencies))
    header = f"{'read':<34}" + "".join(f"{kind:>10}" for kind in kinds)
    print(header)
    print("-" * len(header))
    by_name: dict[str, dict[str, float]] = {}
    for latency in latencies:
        by_name.setdefault(latency.name, {})[latency.store] = latency.median_ms
    for name, stores in by_name.items():
        print(f"{name:<34}" + "".join(f"{stores.get(kind, 0):>10.3f}" for kind in kinds))


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per batch (one session)")
    parser.add_argument("--repeats", type=int, default=5, help="batches per scenario; median")
    parser.add_argument("--sessions", type=int, default=500, help="sessions for the read test")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--postgres", metavar="URL", help="also measure PostgresDb at this URL")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every scenario, print the tables, optionally write JSON."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    global POSTGRES_URL
    POSTGRES_URL = args.postgres
    kinds = ["memory", "sqlite"] + (["postgres"] if args.postgres else [])
    print(
        f"kern {kern.__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; runs={args.runs} repeats={args.repeats}"
    )
    base = baseline(args.runs, args.repeats)
    results = []
    session_reads = {}
    for history in (False, True):
        for kind in kinds:
            result, read_ms = workflow_runs(kind, history, args.runs, args.repeats)
            results.append(result)
            session_reads[result.name] = read_ms
    latencies = [
        latency for kind in kinds for latency in listing_latency(kind, args.sessions, args.repeats)
    ]
    print_report(base, results, session_reads, latencies, args.sessions)
    if args.json:
        memory = next(r for r in results if r.name == "memory")
        payload = {
            "kern": kern.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "parameters": vars(args) | {"json": str(args.json)},
            "runs": [
                asdict(r)
                | {
                    "runs_per_second": r.runs_per_second,
                    "ratio_to_memory": r.seconds / memory.seconds,
                    "ratio_to_baseline": r.seconds / base.seconds,
                    "get_session_ms": session_reads.get(r.name),
                }
                for r in [base, *results]
            ],
            "reads": [asdict(latency) for latency in latencies],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
