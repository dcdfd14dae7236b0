"""How the ``kern`` command prints: rich tables for people, JSON for machines,
and a progress bar on stderr that never mixes into stdout.

Consoles are made per command from the current ``sys.stdout``/``sys.stderr``,
so output can be captured. Text from the database is printed as plain text,
never read as rich markup.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from kern.domain.values import iso_utc

PIPED_WIDTH = 160  # width of tables written to a file or a pipe (no terminal to ask)
SHORT = 60
IDS = frozenset({"session_id", "run_id"})
"""Columns never wrapped: an id is copied whole, so a table too narrow for its ids
is printed wider than the terminal rather than cut an id in two."""

NARROW = 8
"""Columns other than ids may be folded down to this many characters."""
PROGRESS_FROM = 20
"""Items (sessions) a job must go through before it draws a progress bar."""

Progressor = Callable[[int, int], None]


class _Console(Console):
    """rich's Console, leaving a reader gone away (BrokenPipeError) to ``kern``'s
    main, which ends quietly with status 0 (rich itself would exit with 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def _console(stream: Any, width: int | None = None) -> Console:
    if width is None and not stream.isatty() and "COLUMNS" not in os.environ:
        width = PIPED_WIDTH
    return _Console(file=stream, width=width, highlight=False, soft_wrap=False)


class Output:
    """Where one command writes: stdout for results, stderr for progress."""

    def __init__(self, *, as_json: bool, progress: bool = True) -> None:
        self.as_json = as_json
        self.show_progress = progress
        self.stdout = _console(sys.stdout)
        self.stderr = _console(sys.stderr)

    def json(self, value: Any) -> None:
        """One JSON document, indented."""
        sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")

    def json_lines(self, values: Iterable[Any]) -> None:
        """One compact JSON document per line."""
        for value in values:
            sys.stdout.write(json.dumps(jsonable(value), ensure_ascii=False) + "\n")

    def print(self, *renderables: Any) -> None:
        """Rich renderables (tables, Text) or plain strings, on stdout."""
        for renderable in renderables:
            if isinstance(renderable, str):
                # A message is one line whatever the width: scripts read it (a path
                # in "Exported ... to PATH" must not be cut in two).
                self.stdout.print(Text(renderable), soft_wrap=True)
            elif isinstance(renderable, Table):
                self._table(renderable)
            else:
                self.stdout.print(renderable)

    def _table(self, grid: Table) -> None:
        """``grid`` at the console's width, or wider when its ids need more."""
        needed = _width_for_ids(grid)
        console = self.stdout
        if needed > console.width:
            console = _console(sys.stdout, width=needed)
        console.print(grid)

    def note(self, text: str) -> None:
        """A line for people on stderr (stdout stays data only)."""
        self.stderr.print(Text(text), soft_wrap=True)

    @contextmanager
    def progress(self, description: str, *, enabled: bool = True) -> Iterator[Progressor]:
        """A callback ``(done, total)`` that drives a bar on stderr, only when stderr
        is a terminal (a bar in a log file or a pipe is noise) and there are at least
        PROGRESS_FROM items to go through (a short job needs none)."""
        bar: Progress | None = None
        task = None
        wanted = enabled and self.show_progress and self.stderr.is_terminal

        def update(done: int, total: int) -> None:
            nonlocal bar, task
            if bar is None:
                if not wanted or total < PROGRESS_FROM:
                    return
                bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=self.stderr,
                    # stdout carries data (export lines): never route it through the bar
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                bar.start()
                task = bar.add_task(description, total=total)
            assert task is not None
            bar.update(task, completed=done, total=total)

        try:
            yield update
        finally:
            if bar is not None:
                bar.stop()


def table(*columns: str) -> Table:
    """A table with these column headers; cells go in as plain text, and ids
    (IDS) are never wrapped."""
    grid = Table()
    for column in columns:
        grid.add_column(column, overflow="fold", no_wrap=column in IDS)
    return grid


def _width_for_ids(grid: Table) -> int:
    """The width ``grid`` needs to show every id whole, its other columns folded
    down to NARROW characters (less if their text is shorter)."""
    needed = 1  # a table made by table(): a rule left of each column and one at the end
    for column in grid.columns:
        cells = [column.header, *column.cells]
        widest = max(_cell_len(cell) for cell in cells)
        needed += 3 + (widest if column.no_wrap else min(widest, NARROW))
    return needed


def _cell_len(cell: Any) -> int:
    """How many columns a header or a cell (plain text) takes on one line."""
    return cell.cell_len if isinstance(cell, Text) else Text(str(cell)).cell_len


def titled(title: str, renderable: RenderableType) -> Group:
    """``renderable`` under a bold title line."""
    return Group(Text(title, style="bold"), renderable)


def add_row(grid: Table, *cells: Any) -> None:
    """Add a row, every cell shown as plain text."""
    grid.add_row(*(Text(cell_text(cell)) for cell in cells))


def key_values(rows: Sequence[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column table of labels and values."""
    grid = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(Text(label), Text(cell_text(value)))
    return grid


def cell_text(value: Any) -> str:
    """How a value reads in a table cell."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return timestamp(value)
    return json.dumps(jsonable(value), ensure_ascii=False)


def short(value: Any, limit: int = SHORT) -> str:
    """``value`` on one line, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def timestamp(value: datetime | int | float | None) -> str:
    """A moment as ISO 8601 UTC with a trailing Z ("-" when unknown)."""
    if value is None:
        return "-"
    if not isinstance(value, datetime):  # unix seconds, as the read model keeps them
        whole = value == int(value)
        return iso_utc(datetime.fromtimestamp(value, UTC), "seconds" if whole else "microseconds")
    return iso_utc(value, "microseconds")


def jsonable(value: Any) -> Any:
    """``value`` with datetimes, enums, pydantic models and dataclasses made JSON-ready."""
    if hasattr(value, "to_json") and callable(value.to_json):
        return jsonable(value.to_json())
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
