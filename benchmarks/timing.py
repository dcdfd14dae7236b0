"""Timing helpers: interleaved repetitions, medians and paired ratios.

Every comparison runs its contenders in the same process, one call of each
per round (A, B, A, B, ...; the order rotates each round), so a machine that
slows down for a while slows every contender alike. A ratio is the median
of the per-round ratios, a value the median of its repetitions.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def interleave(calls: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, ``rounds`` calls each, interleaved."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(calls[name]))
    return times


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """The median of the per-round ratios of two interleaved series."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with three significant figures or so."""
    value = seconds * 1000
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def per_second(count: float, seconds: float) -> str:
    """A rate, rounded to three significant figures."""
    rate = count / seconds
    return f"{rate:,.0f}/s" if rate >= 100 else f"{rate:.1f}/s"


def megabytes(size: float) -> str:
    """Bytes as MB."""
    return f"{size / 1e6:,.1f} MB"


def progress(message: str) -> None:
    """A timestamped line on stderr, to follow a long run."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
