"""The same workflow on DBOS Transact and on LangGraph with its savers, for comparison.

Both come with the ``bench`` extra (``pip install -e ".[bench]"``); without
them their rows say "not measured". Each peer runs the three steps of
:mod:`workload` on the same store kind as Kern: SQLite files in the
backend's temporary folder, or a schema of its own on the PostgreSQL server
(``<backend schema>_dbos``, ``<backend schema>_langgraph``), dropped with the
backend's.

- DBOS: a ``@DBOS.workflow()`` calling three ``@DBOS.step()``s, the first
  with the run input, the next with the previous output (as Kern's steps
  receive them). DBOS checkpoints each step's output and the workflow's
  status, inputs and output. It has no sessions: a "session" here is the
  workflows whose ids start with ``<session>/``, one per run.
- LangGraph: a three-node ``StateGraph`` (``input`` and one key per node,
  each node writing its own output) compiled with ``SqliteSaver`` or
  ``PostgresSaver``; a session is a thread, one ``invoke`` per run. The saver
  writes a checkpoint of the whole state at every super-step (the input
  step and each node) and each node's pending writes.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import psycopg
from psycopg import sql
from stores import Backend
from workload import INPUT, OUTPUTS

DBOS_PACKAGE = "dbos"
LANGGRAPH_PACKAGES = ("langgraph", "langgraph.checkpoint.sqlite", "langgraph.checkpoint.postgres")


def missing(name: str) -> str | None:
    """Why a peer cannot be measured (None when it can): 'dbos' or 'langgraph'."""
    packages = (DBOS_PACKAGE,) if name == "dbos" else LANGGRAPH_PACKAGES
    for package in packages:
        try:
            found = importlib.util.find_spec(package)
        except ModuleNotFoundError:
            found = None
        if found is None:
            pip_name = package.replace(".checkpoint.", "-checkpoint-")
            return f"not measured: {pip_name} not installed (pip install -e '.[bench]')"
    return None


def _schema(backend: Backend, peer: str) -> str:
    return f"{backend.schema}_{peer}"


def drop(backend: Backend) -> None:
    """Remove what the peers wrote on the backend's PostgreSQL server (SQLite files
    go with the backend's folder)."""
    if backend.kind != "postgres":
        return
    with psycopg.connect(backend.location, autocommit=True) as conn:
        for peer in ("dbos", "langgraph"):
            name = sql.Identifier(_schema(backend, peer))
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))


def _payload_bytes(
    backend: Backend, query: Callable[[str, str], list[tuple[Any, ...]]], columns: dict[str, str]
) -> int:
    """Sum of the byte lengths of ``{table: "col, col"}`` over the rows ``query`` selects."""
    total = 0
    for table, names in columns.items():
        lengths = [
            f"coalesce(octet_length({c}::text), 0)"
            if backend.kind == "postgres"
            else f"coalesce(length(CAST({c} AS BLOB)), 0)"
            for c in names.split(", ")
        ]
        for row in query(table, " + ".join(lengths)):
            total += int(row[0] or 0)
    return total


# --- DBOS Transact -----------------------------------------------------------------------

_dbos_pipeline: Callable[[str], str] | None = None


def _dbos_registered() -> Callable[[str], str]:
    """Register the workflow and its steps once per process (DBOS keeps a global registry)."""
    global _dbos_pipeline
    if _dbos_pipeline is not None:
        return _dbos_pipeline
    from dbos import DBOS

    @DBOS.step()
    def research(text: str) -> str:
        return OUTPUTS[0]

    @DBOS.step()
    def summarize(text: str) -> str:
        return OUTPUTS[1]

    @DBOS.step()
    def publish(text: str) -> str:
        return OUTPUTS[2]

    @DBOS.workflow()
    def bench_pipeline(text: str) -> str:
        return publish(summarize(research(text)))

    _dbos_pipeline = bench_pipeline
    return bench_pipeline


# Columns holding what DBOS recorded of a run (its inputs, outputs, errors).
_DBOS_PAYLOAD = {
    "workflow_status": "inputs, output, error",
    "operation_outputs": "output, error",
    "workflow_input": "inputs",
    "workflow_output": "output, error",
}


class Dbos:
    """DBOS launched on the backend's store; one workflow per run.

    DBOS is one instance per process: open one at a time (``with Dbos(b) as d``).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.counter = 0

    def __enter__(self) -> Dbos:
        from dbos import DBOS, DBOSConfig

        self.pipeline = _dbos_registered()
        config: DBOSConfig = {"name": "kern-bench", "log_level": "WARNING"}
        if self.backend.kind == "sqlite":
            config["system_database_url"] = f"sqlite:///{Path(self.backend.location) / 'dbos.db'}"
        else:
            config["system_database_url"] = self.backend.location
            config["dbos_system_schema"] = _schema(self.backend, "dbos")
        self.dbos = DBOS(config=config)
        try:
            DBOS.launch()
        except BaseException:
            DBOS.destroy()  # or the next DBOS(config=...) returns this instance, config and all
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        from dbos import DBOS

        DBOS.destroy()

    def run(self, session_id: str) -> None:
        """One run: a new workflow in the session."""
        from dbos import SetWorkflowID

        self.counter += 1
        with SetWorkflowID(f"{session_id}/{self.counter}"):
            self.pipeline(INPUT)

    def build(self, session_id: str, runs: int) -> None:
        """``runs`` real runs in the session."""
        for _ in range(runs):
            self.run(session_id)

    def read(self, session_id: str) -> int:
        """The session's workflows with inputs and outputs, and each one's steps;
        returns how many steps were read."""
        from dbos import DBOS

        workflows = DBOS.list_workflows(workflow_id_prefix=f"{session_id}/")
        return sum(len(DBOS.list_workflow_steps(w.workflow_id)) for w in workflows)

    def stored(self, session_id: str) -> int:
        """Payload bytes of the session's workflows: inputs, outputs, step outputs."""
        from sqlalchemy import text

        engine = self.dbos._sys_db.engine  # the system database DBOS writes
        schema = _schema(self.backend, "dbos") if self.backend.kind == "postgres" else None
        with engine.connect() as conn:
            tables = set(engine.dialect.get_table_names(conn, schema=schema))

            def query(table: str, length: str) -> list[tuple[Any, ...]]:
                if table not in tables:
                    return []
                name = f'"{schema}".{table}' if schema else table
                statement = text(f"SELECT sum({length}) FROM {name} WHERE workflow_uuid LIKE :p")
                return [tuple(r) for r in conn.execute(statement, {"p": f"{session_id}/%"})]

            return _payload_bytes(self.backend, query, _DBOS_PAYLOAD)


# --- LangGraph -----------------------------------------------------------------------------


class _State(TypedDict, total=False):
    input: str
    research: str
    summarize: str
    publish: str


def _graph() -> Any:
    from langgraph.graph import END, START, StateGraph

    def research(state: _State) -> _State:
        return {"research": OUTPUTS[0]}

    def summarize(state: _State) -> _State:
        return {"summarize": OUTPUTS[1]}

    def publish(state: _State) -> _State:
        return {"publish": OUTPUTS[2]}

    graph = StateGraph(_State)
    for node in (research, summarize, publish):
        graph.add_node(node.__name__, node)
    graph.add_edge(START, "research")
    graph.add_edge("research", "summarize")
    graph.add_edge("summarize", "publish")
    graph.add_edge("publish", END)
    return graph


# Columns holding what the savers recorded: checkpoints, their metadata, blobs and writes.
_LANGGRAPH_PAYLOAD = {
    "sqlite": {"checkpoints": "checkpoint, metadata", "writes": "value"},
    "postgres": {
        "checkpoints": "checkpoint, metadata",
        "checkpoint_blobs": "blob",
        "checkpoint_writes": "blob",
    },
}


class LangGraph:
    """A LangGraph graph with ``SqliteSaver`` or ``PostgresSaver`` on the backend's store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __enter__(self) -> LangGraph:
        from psycopg.rows import dict_row

        if self.backend.kind == "sqlite":
            from langgraph.checkpoint.sqlite import SqliteSaver

            path = Path(self.backend.location) / "langgraph.db"
            self.conn: Any = sqlite3.connect(path, check_same_thread=False)
            saver: Any = SqliteSaver(self.conn)
        else:
            from langgraph.checkpoint.postgres import PostgresSaver

            schema = _schema(self.backend, "langgraph")
            with psycopg.connect(self.backend.location, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            self.conn = psycopg.connect(
                self.backend.location,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,  # what PostgresSaver expects of its connection
                options=f"-c search_path={schema}",
            )
            saver = PostgresSaver(self.conn)
        saver.setup()
        self.app = _graph().compile(checkpointer=saver)
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    @staticmethod
    def _config(session_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": session_id}}

    def run(self, session_id: str) -> None:
        """One run: an ``invoke`` of the graph on the session's thread."""
        self.app.invoke({"input": INPUT}, self._config(session_id))

    def build(self, session_id: str, runs: int) -> None:
        """``runs`` real runs on the thread."""
        for _ in range(runs):
            self.run(session_id)

    def read(self, session_id: str) -> int:
        """``get_state_history`` of the thread: every checkpoint, decoded; returns how many."""
        return sum(1 for _ in self.app.get_state_history(self._config(session_id)))

    def stored(self, session_id: str) -> int:
        """Payload bytes of the thread: checkpoints, metadata, blobs and writes."""
        kind = self.backend.kind
        mark = "?" if kind == "sqlite" else "%s"

        def query(table: str, length: str) -> list[tuple[Any, ...]]:
            text = f"SELECT sum({length}) FROM {table} WHERE thread_id = {mark}"
            rows = self.conn.execute(text, (session_id,)).fetchall()
            return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]

        return _payload_bytes(self.backend, query, _LANGGRAPH_PAYLOAD[kind])
