"""Agno's sessions and runs tables as Agno 3.x lays them out, read with plain SQL.

A workflow session is a row of the sessions table (``agno_sessions`` by
default) whose ``session_type`` is ``workflow``. Its runs are the rows of the
runs table with its session_id, in Agno's order (``run_index``, then
``created_at``, then ``run_id``), each a JSON ``run_data``; a database
written before Agno 3 may still hold some or all of them in the sessions
table's ``runs`` column, merged as Agno merges them (the runs table's copy
wins, runs only in the table come last). The runs table is ``agno_runs`` for
the default sessions table, else ``<table>_runs``, as in Agno, unless named.
Runs of agents or teams stored beside a workflow's are left out, as Agno's
WorkflowSession leaves them out.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from kern.adapters.stores.identifiers import check_identifier
from kern.application.agno_plan import AgnoSession
from kern.domain.errors import ImportSourceError

DEFAULT_TABLE = "agno_sessions"
SESSION_COLUMNS = (
    "session_id",
    "user_id",
    "workflow_id",
    "session_data",
    "workflow_data",
    "metadata",
    "created_at",
    "updated_at",
)
"""The columns of Agno's sessions table an import reads (besides session_type)."""
RUN_COLUMNS = ("run_id", "session_id", "run_data", "run_index", "created_at", "updated_at")
WORKFLOW = "workflow"


def default_runs_table(table: str) -> str:
    """The runs table Agno pairs with the sessions table ``table``."""
    return "agno_runs" if table == DEFAULT_TABLE else f"{table}_runs"


class AgnoTables(ABC):
    """An open Agno database: count and read its workflow sessions, then close."""

    placeholder = "?"

    def __init__(self, shown: str, table: str, runs_table: str | None) -> None:
        self.shown = shown
        """The database, as messages name it (never with a password)."""
        self.table = check_identifier(table, what="the Agno sessions table")
        self.runs_table = check_identifier(
            runs_table or default_runs_table(table), what="the Agno runs table"
        )
        self._legacy_runs = False
        self._has_runs_table = False

    # -- what a dialect provides ------------------------------------------------------

    @abstractmethod
    def columns(self, table: str) -> set[str]:
        """The columns of ``table`` (empty when there is no such table)."""

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""

    @abstractmethod
    def qualified(self, table: str) -> str:
        """``table`` as a query names it."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def __enter__(self) -> AgnoTables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checking the layout --------------------------------------------------------------

    def check_layout(self) -> None:
        """ImportSourceError unless the sessions table is there with Agno's columns
        (and the runs table, when there is one)."""
        found = self.columns(self.table)
        if not found:
            raise self.error(
                f"{self.shown} has no table {self.table!r}: not an Agno database, or its "
                "sessions are in another table (name it with --from-table / table=)"
            )
        missing = [c for c in ("session_type", *SESSION_COLUMNS) if c not in found]
        if missing:
            raise self.error(
                f"table {self.table!r} of {self.shown} is not an Agno sessions table: it has "
                f"no {', '.join(missing)} column(s)"
            )
        self._legacy_runs = "runs" in found
        runs = self.columns(self.runs_table)
        missing = [c for c in RUN_COLUMNS if runs and c not in runs]
        if missing:
            raise self.error(
                f"table {self.runs_table!r} of {self.shown} is not an Agno runs table: it has "
                f"no {', '.join(missing)} column(s)"
            )
        self._has_runs_table = bool(runs)

    def error(self, message: str) -> ImportSourceError:
        """The error for a problem with this database (and its sessions table)."""
        return ImportSourceError(message, source=self.shown, table=self.table)

    # -- reading --------------------------------------------------------------------------

    def count(self) -> int:
        """How many workflow sessions the table holds."""
        table, mark = self.qualified(self.table), self.placeholder
        sql = f"SELECT COUNT(*) FROM {table} WHERE session_type = {mark}"
        return int(self.rows(sql, (WORKFLOW,))[0][0])

    def sessions(self) -> Iterator[AgnoSession]:
        """Every workflow session, oldest first, each with its workflow runs."""
        columns = [*SESSION_COLUMNS, *(("runs",) if self._legacy_runs else ())]
        sql = (
            f"SELECT {', '.join(columns)} FROM {self.qualified(self.table)} "
            f"WHERE session_type = {self.placeholder} ORDER BY created_at, session_id"
        )
        for row in self.rows(sql, (WORKFLOW,)):
            values = dict(zip(columns, row, strict=True))
            table_runs, written = self._table_runs(values["session_id"])
            runs = merge_runs(table_runs, decoded(values.get("runs")))
            yield AgnoSession(
                session_id=values["session_id"],
                user_id=values["user_id"],
                workflow_id=values["workflow_id"],
                session_data=decoded(values["session_data"]),
                workflow_data=decoded(values["workflow_data"]),
                metadata=decoded(values["metadata"]),
                created_at=values["created_at"],
                updated_at=values["updated_at"],
                runs=[run for run in runs if run_type(run) == WORKFLOW],
                runs_updated_at=written,
            )

    def _table_runs(self, session_id: str) -> tuple[list[Any], dict[str, int]]:
        """The runs table's runs of the session, in Agno's order, and when each
        was last written (its row's updated_at), by run_id."""
        if not self._has_runs_table:
            return [], {}
        sql = (
            f"SELECT run_id, run_data, updated_at FROM {self.qualified(self.runs_table)} "
            f"WHERE session_id = {self.placeholder} ORDER BY run_index, created_at, run_id"
        )
        rows = self.rows(sql, (session_id,))
        written = {run_id: at for run_id, _, at in rows if isinstance(at, int)}
        return [decoded(data) for _, data, _ in rows], written


def decoded(value: Any) -> Any:
    """A JSON column's value: SQLite hands over text, PostgreSQL's jsonb the value.
    Text that is not JSON stays text (Agno keeps it so too)."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def merge_runs(table_runs: list[Any], legacy_runs: Any) -> list[dict[str, Any]]:
    """The runs table's runs merged with a pre-3 ``runs`` column, as Agno merges them:
    the column's order, each run replaced by the table's copy when it has one,
    then the runs only the table has."""
    by_id = {run["run_id"]: run for run in table_runs if isinstance(run, dict) and "run_id" in run}
    merged: list[dict[str, Any]] = []
    known: set[Any] = set()
    for run in legacy_runs if isinstance(legacy_runs, list) else []:
        if isinstance(run, dict) and run.get("run_id") is not None:
            known.add(run["run_id"])
            merged.append(by_id.get(run["run_id"], run))
    merged += [
        run
        for run in table_runs
        if isinstance(run, dict) and run.get("run_id") is not None and run["run_id"] not in known
    ]
    return merged


def run_type(run: dict[str, Any]) -> str:
    """ "agent", "team" or "workflow", as Agno tells a stored run's kind."""
    if run.get("agent_id") or run.get("agent_name"):
        return "agent"
    if run.get("team_id") or run.get("team_name"):
        return "team"
    return WORKFLOW
