"""The suite's one markdown table: rows, targets, and the header line."""

from __future__ import annotations

import dataclasses
import os
import platform
from datetime import datetime

import kern


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table.

    ``ratio`` compares ``value`` with ``baseline`` (both measured interleaved);
    ``target`` is the issue's target for that ratio or value, and ``met``
    whether it was reached (None when the row has no target).
    """

    item: int
    measurement: str
    store: str
    value: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


def at_most(ratio: float, limit: float) -> tuple[str, bool]:
    """Target text and verdict for a ratio that must not exceed ``limit``."""
    return f"<= {limit:g}x", ratio <= limit


def at_least(ratio: float, limit: float) -> tuple[str, bool]:
    """Target text and verdict for a ratio that must reach ``limit``."""
    return f">= {limit:g}x", ratio >= limit


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def _met(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "**no**")


def table(rows: list[Row]) -> str:
    """The rows as one markdown table, in item order."""
    lines = [
        "| # | measurement | store | value | baseline | ratio | target | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: r.item):
        cells = [
            str(row.item),
            row.measurement,
            row.store,
            row.value,
            row.baseline,
            _ratio(row.ratio),
            row.target,
            _met(row.met),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(mode: str, postgres_version: str | None, elapsed: float | None = None) -> str:
    """Date, machine and mode, for the line above the table."""
    parts = [
        datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        f"kern {kern.__version__}",
        f"{os.cpu_count()} CPUs",
        f"{platform.system()} {platform.machine()}",
        f"Python {platform.python_version()}",
        f"SQLite {_sqlite_version()}",
        f"PostgreSQL {postgres_version}" if postgres_version else "no PostgreSQL",
        f"mode {mode}",
    ]
    if elapsed is not None:
        parts.append(f"took {elapsed / 60:.1f} min")
    return ", ".join(parts)


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version
