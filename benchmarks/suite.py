"""Kern's benchmark suite: one markdown table of measurements, ratios and targets.

    .venv/bin/python benchmarks/suite.py [--quick] [--postgres URL] [--out FILE]

Measures on SQLite and PostgreSQL (see docs/performance.md for every row):
recording a run against the raw driver, the cost of ``Workflow.run`` as a
session grows (warm, cold, with history), Agno 3.1.10 on the same workflow,
``get_session`` of a long session and its memory, as-of reads, 1/2/4 writer
processes, export/verify throughput, and DBOS Transact and LangGraph's savers
on the same workload (per run, reading a session back, bytes per run). Each
value is a median over repetitions; each ratio compares measurements
interleaved in one process. ``--quick`` uses a 2,000-run long session and
fewer repetitions (a few minutes); the full mode uses 10,000 runs (a
50,001-event session).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import agno_side
import measure_peers
import measure_reads
import measure_record
import measure_runs
import measure_writers
import peers
import psycopg
import tenacity
from report import Row, header, table
from stores import Backend
from timing import progress
from workload import Template, template_run

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_OUT = Path(__file__).resolve().parent / "results.md"


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes and repetitions of one mode."""

    name: str
    long_runs: int  # runs in the long session (item 2's and 4's last point, 5, 6, 8)
    record_rounds: int
    run_rounds: int
    cold_repeats: int
    agno_rounds: int
    read_repeats: int
    as_of_repeats: int
    audit_repeats: int
    writer_rounds: int
    writer_seconds: float
    peer_rounds: int  # runs of each contender per size in item 9
    peer_reads: int  # read-backs of each contender in item 10


QUICK = Profile("quick", 2_000, 100, 8, 2, 3, 2, 6, 1, 1, 2.0, 8, 2)
FULL = Profile("full", 10_000, 1_000, 50, 3, 15, 5, 30, 5, 3, 5.0, 30, 5)
AGNO_SIZES = (10, 1_000)
PEER_SIZES = (10, 1_000)
PEER_ITEMS = {9, 10, 11}


def measure(backend: Backend, profile: Profile, template: Template, items: set[int]) -> list[Row]:
    """Every selected item on one backend."""
    p = profile
    short = {10: "short-10", 1_000: "short-1000"}
    history = {10: "history-10", 1_000: "history-1000"}
    sessions = {**short, p.long_runs: "long"}
    history_sessions = {**history, p.long_runs: "long"}
    steps: list[tuple[int, Callable[[], list[Row]]]] = [
        (1, lambda: measure_record.measure(backend, p.record_rounds)),
        (2, lambda: measure_runs.warm(backend, sessions, p.run_rounds, history=False)),
        (2, lambda: measure_runs.cold(backend, sessions, p.cold_repeats)),
        (3, lambda: measure_runs.versus_agno(backend, template, AGNO_SIZES, p.agno_rounds)),
        (4, lambda: measure_runs.warm(backend, history_sessions, p.run_rounds, history=True)),
        (5, lambda: measure_reads.get_session(backend, ["short-1000", "long"], p.read_repeats)),
        (6, lambda: measure_reads.as_of(backend, "long", p.as_of_repeats)),
        (8, lambda: measure_reads.audit(backend, "long", p.audit_repeats)),
        (7, lambda: measure_writers.measure(backend, p.writer_rounds, p.writer_seconds)),
        (
            9,
            lambda: measure_peers.measure(
                backend, template, PEER_SIZES, p.peer_rounds, p.peer_reads, items
            ),
        ),
    ]
    if items & {2, 4, 5, 6, 8}:
        sizes = {sid: runs for named in (short, history) for runs, sid in named.items()}
        progress(f"{backend.kind}: building sessions of 10, 1,000 and {p.long_runs:,} runs")
        measure_runs.build(backend, template, {**sizes, "long": p.long_runs})
    rows: list[Row] = []
    selected = items | ({9} if items & PEER_ITEMS else set())  # item 9's step makes 10 and 11
    for item, step in steps:
        if item not in selected:
            continue
        progress(f"{backend.kind}: item {item}")
        if item == 3 and not agno_side.installed():
            rows.append(Row(3, "Agno rows: " + agno_side.MISSING, backend.kind, "not measured"))
            continue
        try:
            rows += step()
        except Exception as exc:  # a shared server may refuse us for a while: report, go on
            progress(f"{backend.kind}: item {item} failed: {exc!r}")
            problem = " ".join(str(exc).split())[:160]
            rows.append(Row(item, f"failed: {type(exc).__name__}: {problem}", backend.kind, "-"))
    return rows


def _backends(args: argparse.Namespace) -> list[Backend]:
    backends = [Backend.sqlite()]
    if args.sqlite_only:
        return backends
    try:
        psycopg.connect(args.postgres, connect_timeout=5).close()
    except psycopg.Error as exc:
        progress(f"PostgreSQL at {args.postgres} is unreachable, measuring SQLite only: {exc}")
        return backends
    return [*backends, Backend.postgres(args.postgres)]


def _clean_up(backend: Backend) -> None:
    """Drop what the run wrote; a shared server that is restarting gets 20 s to come back."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(psycopg.OperationalError),
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_fixed(5),
        reraise=True,
    )
    for drop in (peers.drop, Backend.drop):
        try:
            retrying(drop, backend)
        except psycopg.Error as exc:
            schemas = f"{backend.schema}, {backend.schema}_dbos, {backend.schema}_langgraph"
            progress(f"could not drop schemas {schemas}, drop them by hand: {exc}")
            return


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--postgres", metavar="URL", default=DEFAULT_POSTGRES, help="server")
    parser.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write")
    parser.add_argument(
        "--items",
        default="1,2,3,4,5,6,7,8,9,10,11",
        help="comma-separated items to run (default all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write it to ``--out``."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    profile = QUICK if args.quick else FULL
    items = {int(item) for item in args.items.split(",")}
    started = time.perf_counter()
    template = template_run()
    backends = _backends(args)
    rows: list[Row] = []
    try:
        for backend in backends:
            rows += measure(backend, profile, template, items)
    finally:
        for backend in backends:
            _clean_up(backend)
    try:
        postgres = next((b.server_version() for b in backends if b.kind == "postgres"), None)
    except psycopg.Error:  # the table is worth more than the version line
        postgres = "(version not read)"
    mode = f"{profile.name} (long session: {profile.long_runs:,} runs)"
    text = f"{header(mode, postgres, time.perf_counter() - started)}\n\n{table(rows)}\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")
    progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
