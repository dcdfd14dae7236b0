"""The async API against the sync one: ``arun`` per run, and 50 runs at once.

Per store (SQLite, PostgreSQL), in one process and one event loop:

- per run: blocks of runs of the benchmark workflow (three sync steps), each
  into its own warm session, through ``run`` on the sync db, ``arun`` on the
  async db, and ``arun`` on the sync db (which runs each call in a worker
  thread); the blocks are interleaved, and a ratio is the median over rounds
  of (seconds per run) / (seconds per run of ``run``);
- concurrency: 50 ``arun`` calls on 50 distinct sessions through one async
  db, started together (``asyncio.gather``), against the same 50 awaited one
  after another, interleaved; the ratio is runs/s together over runs/s in
  sequence (median over rounds).

The sync steps of ``arun`` run in worker threads, as they would in a service;
a fourth contender runs the same three steps written as ``async def``, to
tell the cost of those thread hops from the cost of the async store.

    .venv/bin/python benchmarks/measure_async.py --sqlite --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from stores import Backend
from timing import ms, progress
from workload import INPUT, OUTPUTS, WORKFLOW_NAME, kern_workflow

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.workflow import StepInput, Workflow

BLOCK = 20
"""Runs per timed block of the per-run comparison."""

CONCURRENT = 50
"""Runs started together in the concurrency comparison."""


async def research(step_input: StepInput) -> str:
    """The workload's first step, as an ``async def``."""
    return OUTPUTS[0]


async def summarize(step_input: StepInput) -> str:
    """The workload's second step, as an ``async def``."""
    return OUTPUTS[1]


async def publish(step_input: StepInput) -> str:
    """The workload's third step, as an ``async def``."""
    return OUTPUTS[2]


def open_pair(backend: Backend, **pool: int) -> tuple[KernDb, AsyncKernDb]:
    """A sync and an async db on the backend's store (``pool``: PostgreSQL pool sizes)."""
    if backend.kind == "sqlite":
        from kern.db.sqlite import AsyncSqliteDb, SqliteDb

        path = Path(backend.location) / "kern.db"
        return SqliteDb(db_file=path), AsyncSqliteDb(db_file=path)
    from kern.db.postgres import AsyncPostgresDb, PostgresDb

    return (
        PostgresDb(backend.location, db_schema=backend.schema),
        AsyncPostgresDb(backend.location, db_schema=backend.schema, **pool),
    )


async def per_run(backend: Backend, rounds: int) -> dict[str, list[float]]:
    """Seconds per run of each contender, one value per round."""
    sync_db, async_db = open_pair(backend)
    sync_flow, async_flow = kern_workflow(sync_db), kern_workflow(async_db)  # type: ignore[arg-type]
    thread_flow = kern_workflow(sync_db)
    async_steps = Workflow(name=WORKFLOW_NAME, db=async_db, steps=[research, summarize, publish])

    async def sync_run(session_id: str) -> None:
        for _ in range(BLOCK):
            sync_flow.run(input=INPUT, session_id=session_id)

    async def async_run(session_id: str) -> None:
        for _ in range(BLOCK):
            await async_flow.arun(input=INPUT, session_id=session_id)

    async def async_steps_run(session_id: str) -> None:
        for _ in range(BLOCK):
            await async_steps.arun(input=INPUT, session_id=session_id)

    async def thread_run(session_id: str) -> None:
        for _ in range(BLOCK):
            await thread_flow.arun(input=INPUT, session_id=session_id)

    contenders: dict[str, Callable[[str], Awaitable[None]]] = {
        "run, sync db": sync_run,
        "arun, async db": async_run,
        "arun, sync db": thread_run,
        "arun, async db, async def steps": async_steps_run,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for name, call in contenders.items():  # warm: every session exists and is cached
        await call(f"per-run-{name}")
    for round_ in range(rounds):
        names = list(contenders)
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            await contenders[name](f"per-run-{name}")
            times[name].append((time.perf_counter() - started) / BLOCK)
    sync_db.close()
    await async_db.close()
    return times


async def concurrency(backend: Backend, rounds: int, **pool: int) -> dict[str, list[float]]:
    """Runs per second of CONCURRENT arun calls together and in sequence, per round."""
    sync_db, async_db = open_pair(backend, **pool)
    sync_db.close()
    flow = kern_workflow(async_db)  # type: ignore[arg-type]
    sessions = [f"together-{n}" for n in range(CONCURRENT)]
    await asyncio.gather(*(flow.arun(input=INPUT, session_id=s) for s in sessions))  # warm

    async def together() -> None:
        await asyncio.gather(*(flow.arun(input=INPUT, session_id=s) for s in sessions))

    async def in_sequence() -> None:
        for session_id in sessions:
            await flow.arun(input=INPUT, session_id=session_id)

    contenders: dict[str, Callable[[], Awaitable[None]]] = {
        "together": together,
        "in sequence": in_sequence,
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(rounds):
        names = list(contenders)
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            await contenders[name]()
            rates[name].append(CONCURRENT / (time.perf_counter() - started))
    await async_db.close()
    return rates


def ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def report(backend: Backend, rounds: int) -> list[str]:
    """Markdown table rows for one backend."""
    progress(f"{backend.kind}: per run")
    times = asyncio.run(per_run(backend, rounds))
    base = times["run, sync db"]
    lines = [
        f"| {backend.kind} | {name} | {ms(statistics.median(values))} | "
        f"{ratio(values, base):.2f}x |"
        for name, values in times.items()
    ]
    pools: list[tuple[str, dict[str, int]]] = [("", {})]
    if backend.kind == "postgres":
        pools = [
            (", default pool (2 + 8)", {}),
            (", pool of 10 + 40", {"pool_size": 10, "max_overflow": 40}),
        ]
    for label, pool in pools:
        progress(f"{backend.kind}: {CONCURRENT} at once{label}")
        rates = asyncio.run(concurrency(backend, rounds, **pool))
        lines.append(
            f"| {backend.kind} | {CONCURRENT} arun together vs in sequence{label} | "
            f"{statistics.median(rates['together']):,.0f} vs "
            f"{statistics.median(rates['in sequence']):,.0f} runs/s | "
            f"{ratio(rates['together'], rates['in sequence']):.2f}x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    backends = ([Backend.sqlite()] if args.sqlite else []) + (
        [Backend.postgres(args.postgres)] if args.postgres else []
    )
    rows = ["| store | contender | per run (median) | ratio |", "|---|---|---|---|"]
    for backend in backends:
        try:
            rows += report(backend, args.rounds)
        finally:
            backend.drop()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
