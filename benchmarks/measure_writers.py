"""Item 7: 1, 2 and 4 writer processes, each running the workflow into its own session.

Every writer is a separate process (``spawn``) with its own db object on the
same store. Each opens its store and records one run, then all start
together and run for a fixed time; the row reports the total runs per
second. Rounds alternate 1, 2, 4 writers, 1, 2, 4, ... and a ratio is the
median over rounds of (runs/s of n writers) / (runs/s of one writer).

The row also gives how busy the machine's CPUs were while the writers ran
(all processes: the writers, the database server, anything else), from
``/proc/stat``: a figure near 100% means more writers cannot go faster here.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from multiprocessing.synchronize import Barrier

from report import Row, at_least
from stores import Backend, open_kern
from timing import median

WRITERS = (1, 2, 4)


def writer(
    spec: tuple[str, str, str],
    session_id: str,
    seconds: float,
    ready: Barrier,
    results: multiprocessing.SimpleQueue[int],
) -> None:
    """Run the workflow into ``session_id`` for ``seconds``; put the run count."""
    from workload import INPUT, kern_workflow

    try:
        db = open_kern(spec)
        workflow = kern_workflow(db)
        workflow.run(input=INPUT, session_id=session_id)
    except BaseException:
        ready.abort()  # the other writers stop waiting and fail too: the round is retried
        raise
    ready.wait(timeout=120)  # the parent waits too, and starts its CPU clock
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        workflow.run(input=INPUT, session_id=session_id)
        count += 1
    db.close()
    results.put(count)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (0, 0 without /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _round(backend: Backend, writers: int, seconds: float, tag: str) -> tuple[float, float]:
    """Total runs per second of ``writers`` processes; a round whose writer could
    not connect (a shared server out of connections) is tried again."""
    for attempt in range(3):
        try:
            return _one_round(backend, writers, seconds, f"{tag}-{attempt}")
        except WriterFailed:
            time.sleep(5)
    return _one_round(backend, writers, seconds, f"{tag}-last")


class WriterFailed(RuntimeError):
    """A writer process exited with an error."""


def _one_round(backend: Backend, writers: int, seconds: float, tag: str) -> tuple[float, float]:
    """(total runs per second, share of the machine's CPU time busy meanwhile)."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(writers + 1)
    results: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    processes = [
        context.Process(
            target=writer,
            args=(backend.spec, f"writer-{tag}-{n}", seconds, ready, results),
        )
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    # A writer that failed to start breaks the barrier; its exit code says so below.
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait(timeout=180)
    busy_before, total_before = cpu_ticks()
    time.sleep(seconds * 0.9)  # inside the writers' timed window
    busy_after, total_after = cpu_ticks()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise WriterFailed(f"a writer process failed (exit code {process.exitcode})")
    busy = (busy_after - busy_before) / max(1, total_after - total_before)
    return sum(results.get() for _ in processes) / seconds, busy


def measure(backend: Backend, rounds: int, seconds: float) -> list[Row]:
    """Runs per second of 1, 2 and 4 writers, interleaved by rounds."""
    rates: dict[int, list[float]] = {n: [] for n in WRITERS}
    busy: dict[int, list[float]] = {n: [] for n in WRITERS}
    for round_ in range(rounds):
        for writers in WRITERS:
            rate, share = _round(backend, writers, seconds, f"{round_}-{writers}")
            rates[writers].append(rate)
            busy[writers].append(share)
    rows = []
    for writers in WRITERS:
        ratios = [a / b for a, b in zip(rates[writers], rates[1], strict=True)]
        ratio = median(ratios)
        target, met = at_least(ratio, 1.6) if writers == max(WRITERS) else ("", None)
        rows.append(
            Row(
                7,
                f"{writers} writer process{'es' if writers > 1 else ''} on distinct sessions, "
                f"total runs per second ({seconds:g} s per round; CPUs "
                f"{median(busy[writers]):.0%} busy)",
                backend.kind,
                f"{median(rates[writers]):,.0f} runs/s",
                "" if writers == 1 else f"{median(rates[1]):,.0f} runs/s, one writer",
                None if writers == 1 else ratio,
                target,
                met,
            )
        )
    return rows
