"""AsyncSqliteDb's dedicated thread against aiosqlite, on the same SQLite statements.

AsyncSqliteDb runs every sqlite3 call on one thread the store owns
(``kern.adapters.stores.sqlite_thread``), each call waited for on the loop.
aiosqlite is the other way to put SQLite behind asyncio (also a thread per
connection, fed through a queue). This script asks which costs less per call.

A round runs the workload (``RUNS`` two-step workflow runs into fresh
sessions, each read back with ``get_session``) through AsyncSqliteDb, and
records every statement the store executed (sqlite3's trace callback). The
same statements, in the same order, are then replayed into empty files:

- ``thread``: through the store's own ThreadConnection on a StoreThread,
  one awaited call per statement, as the store makes them;
- ``aiosqlite``: through one aiosqlite connection, one await per statement.

Rounds interleave the three; each ratio is the median over rounds. Run:

    .venv/bin/python benchmarks/measure_async_sqlite.py [--rounds 7] [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from statistics import median

import aiosqlite

from kern.adapters.stores.sqlite_thread import StoreThread, ThreadConnection
from kern.application import bridge
from kern.db.sqlite import AsyncSqliteDb
from kern.workflow import StepInput, Workflow


def echo(step_input: StepInput) -> str:
    return f"echo: {step_input.input}"


def shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


async def kern_round(place: Path, runs: int) -> tuple[float, list[str]]:
    """Seconds for the workload through AsyncSqliteDb, and the statements it executed."""
    db = AsyncSqliteDb(place / "kern.db")
    statements: list[str] = []
    raw = db.sync.store.datastore.pool._connection._sqlite_conn._connection  # type: ignore[attr-defined]
    raw.set_trace_callback(statements.append)
    workflow = Workflow(name="Bench", db=db.sync, steps=[echo, shout])
    started = time.perf_counter()
    for n in range(runs):
        await bridge.portal(workflow.run, input=f"run {n}", session_id=f"s{n}")
        await db.get_session(f"s{n}")
    took = time.perf_counter() - started
    await db.close()
    return took, statements


def schema_of(place: Path) -> list[str]:
    """The journal mode and CREATE statements of Kern's file, for each replay's file."""
    with sqlite3.connect(place / "kern.db") as conn:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return ["PRAGMA journal_mode=WAL", *(row[0] for row in rows)]


def writes_only(statements: list[str]) -> list[str]:
    """The workload's statements, without opening the file (pragmas, schema checks)."""
    start = next(i for i, s in enumerate(statements) if s.startswith("BEGIN"))
    return statements[start:]


async def thread_round(file: Path, schema: list[str], statements: list[str]) -> float:
    """Seconds to replay ``statements`` through the store's thread connection."""
    thread = StoreThread("bench-sqlite")
    raw = thread.run(lambda: sqlite3.connect(file, isolation_level=None, check_same_thread=False))
    conn = ThreadConnection(raw, thread)
    for create in schema:
        conn.execute(create)

    def replay() -> None:
        for statement in statements:
            conn.execute(statement).fetchall()

    started = time.perf_counter()
    await bridge.portal(replay)
    took = time.perf_counter() - started
    await bridge.portal(conn.close)
    thread.stop()
    return took


async def aiosqlite_round(file: Path, schema: list[str], statements: list[str]) -> float:
    """Seconds to replay ``statements`` through one aiosqlite connection."""
    async with aiosqlite.connect(file, isolation_level=None) as conn:
        for create in schema:
            await conn.execute(create)
        started = time.perf_counter()
        for statement in statements:
            cursor = await conn.execute(statement)
            await cursor.fetchall()
        return time.perf_counter() - started


async def main(rounds: int, runs: int) -> None:
    times: dict[str, list[float]] = {"kern": [], "thread": [], "aiosqlite": []}
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            place = Path(tmp)
            took, traced = await kern_round(place, runs)
            statements, schema = writes_only(traced), schema_of(place)
            order = ["thread", "aiosqlite"] if r % 2 == 0 else ["aiosqlite", "thread"]
            for kind in order:
                replay = thread_round if kind == "thread" else aiosqlite_round
                times[kind].append(await replay(place / f"{kind}.db", schema, statements))
            times["kern"].append(took)
    count = len(statements)
    print(f"{rounds} rounds, {runs} runs each ({count} statements per replay)")
    for kind, values in times.items():
        per = median(values) / count * 1e6
        print(f"  {kind:10} median {median(values) * 1000:8.1f} ms  ({per:.1f} us/statement)")
    ratio = median(t / a for t, a in zip(times["thread"], times["aiosqlite"], strict=True))
    whole = median(k / a for k, a in zip(times["kern"], times["aiosqlite"], strict=True))
    print(f"  thread / aiosqlite (same statements): {ratio:.2f}")
    print(f"  AsyncSqliteDb workload / aiosqlite replay: {whole:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.runs))
