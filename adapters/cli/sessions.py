"""``kern`` commands on sessions: ``sessions`` (live or ``--deleted``), ``show``,
``as-of``, ``events``, ``history`` and ``step`` read them; ``rename`` and
``delete`` append to one.

Each takes the open store, the parsed arguments and an :class:`Output`, and
returns the exit status.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from kern.adapters.cli.output import (
    Output,
    add_row,
    key_values,
    short,
    table,
    timestamp,
    titled,
)
from kern.adapters.cli.targets import UsageError, parse_as_of, parse_step
from kern.application.sessions import KernDb
from kern.domain.errors import SessionNotFoundError
from kern.domain.events import (
    RunCompleted,
    RunStarted,
    SessionEvent,
    SessionForked,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepAttemptFailed,
    StepCompleted,
)
from kern.projections.log import LogEntry
from kern.projections.session import WorkflowSession

DEFAULT_LIMIT = 20
"""Sessions ``kern sessions`` lists without --limit."""


def list_sessions(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern sessions [list]``: live sessions, newest first; DEFAULT_LIMIT of them
    unless --limit says otherwise (and a note on stderr says how to see more).
    With --deleted, the deleted sessions, most recently deleted first."""
    limit = args.limit if args.limit is not None else DEFAULT_LIMIT
    if args.deleted:
        return _list_deleted(db, args, out, limit)
    sessions = db.get_sessions(
        user_id=args.user,
        workflow_id=args.workflow_id,
        session_name=args.name,
        limit=limit,
        page=args.page,
        sort_by=args.sort_by,
        sort_order=args.sort_order,
    )
    _note_more(out, args, len(sessions), limit)
    if out.as_json:
        out.json([_listed(session) for session in sessions])
        return 0
    grid = table("session_id", "name", "user", "workflow", "runs", "created", "updated")
    for session in sessions:
        row = _listed(session)
        add_row(
            grid,
            row["session_id"],
            row["session_name"] or "-",
            row["user_id"],
            row["workflow_id"],
            str(row["runs"]),
            timestamp(session.created_at),
            timestamp(session.updated_at),
        )
    out.print(grid, f"{len(sessions)} session(s)")
    return 0


def _list_deleted(db: KernDb, args: argparse.Namespace, out: Output, limit: int) -> int:
    if args.name is not None or args.sort_by is not None or args.sort_order is not None:
        raise UsageError(
            "--deleted lists the most recently deleted first and takes --workflow-id, "
            "--limit and --page only"
        )
    deleted = db.get_deleted_sessions(
        user_id=args.user, workflow_id=args.workflow_id, limit=limit, page=args.page
    )
    _note_more(out, args, len(deleted), limit)
    if out.as_json:
        out.json(deleted)
        return 0
    grid = table("session_id", "name", "user", "workflow", "created", "deleted", "version")
    for session in deleted:
        add_row(
            grid,
            session.session_id,
            session.session_name or "-",
            session.user_id,
            session.workflow_id,
            timestamp(session.created_at),
            timestamp(session.deleted_at),
            str(session.version),
        )
    out.print(grid, f"{len(deleted)} deleted session(s)")
    return 0


def _note_more(out: Output, args: argparse.Namespace, found: int, limit: int) -> None:
    if found == limit:
        page = (args.page or 1) + 1
        out.note(f"showing {limit} sessions: --page {page} for the next, --limit N for more")


def rename(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern rename ID NAME``: record the new name and print it."""
    session = db.rename_session(args.session_id, args.name, args.user)
    if session is None:
        raise _no_session(db, args)
    if out.as_json:
        out.json({"session_id": session.session_id, "session_name": session.session_name})
        return 0
    out.print(session.session_name)
    return 0


def delete(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern delete ID``: append the tombstone; exit status 1 when there was
    no live session of the user's to delete."""
    if not db.delete_session(args.session_id, args.user):
        raise _no_session(db, args)
    [entry] = db.get_log(args.session_id, args.user)[-1:]
    if out.as_json:
        out.json({"session_id": args.session_id, "deleted": True, "version": entry.version})
        return 0
    out.print(
        f"deleted session {args.session_id} (tombstone at version {entry.version}; "
        f"its log stays readable: kern events {args.session_id})"
    )
    return 0


def _no_session(db: KernDb, args: argparse.Namespace) -> SessionNotFoundError:
    """Why there is no live session ``args.session_id`` of the user's to change."""
    log = db.get_log(args.session_id, args.user)
    if log and db.get_session(args.session_id, args.user) is None:
        return SessionNotFoundError(
            f"no session {args.session_id!r}: it was deleted at version {len(log)}",
            session_id=args.session_id,
        )
    return SessionNotFoundError(f"no session {args.session_id!r}", session_id=args.session_id)


def _listed(session: WorkflowSession) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "session_name": session.session_name,
        "user_id": session.user_id,
        "workflow_id": session.workflow_id,
        "workflow_name": session.workflow_name,
        "runs": len(session.runs or []),
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


def show(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern show ID [--as-of AS_OF]`` and ``kern as-of ID AS_OF``: the session then."""
    log = require_log(db, args.session_id, args.user)
    as_of = None if args.as_of is None else parse_as_of(args.as_of)
    version = len(log) if as_of is None else db.resolve_as_of(args.session_id, as_of)
    session = db.get_session(args.session_id, args.user, as_of=as_of)
    if session is None:
        raise SessionNotFoundError(
            f"session {args.session_id!r} was deleted at version {len(log)}; "
            f"read it as of an earlier version (kern as-of {args.session_id} {len(log) - 1})",
            session_id=args.session_id,
        )
    point = log[version - 1]
    if out.as_json:
        out.json({"as_of_version": version, "last_version": len(log), **session.to_dict()})
        return 0
    where = f"version {version} of {len(log)}, recorded {timestamp(point.timestamp)}"
    out.print(
        key_values(
            [
                ("session_id", session.session_id),
                ("as of", where if as_of is not None else f"now ({where})"),
                ("name", session.session_name or None),
                ("user", session.user_id),
                ("workflow", f"{session.workflow_name} ({session.workflow_id})"),
                ("created", timestamp(session.created_at)),
                ("updated", timestamp(session.updated_at)),
                ("session state", session.session_state),
            ],
            title=f"Session {session.session_id}",
        ),
        runs_table(session),
    )
    return 0


def runs_table(session: WorkflowSession) -> Any:
    """A table of the session's runs."""
    grid = table("#", "run_id", "status", "input", "content", "steps")
    for number, run in enumerate(session.runs or [], 1):
        steps = ", ".join(str(step.step_name) for step in run.step_results)
        add_row(
            grid,
            str(number),
            run.run_id,
            run.status.value,
            _brief(run.input),
            _brief(run.error or run.content),
            steps or "-",
        )
    return titled(f"Runs ({len(session.runs or [])})", grid)


def _brief(value: Any) -> str | None:
    return None if value is None else short(value, 80)


def events(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern events ID [--as-of AS_OF]``: the event log, as a table or JSON lines."""
    require_log(db, args.session_id, args.user)
    as_of = None if args.as_of is None else parse_as_of(args.as_of)
    log = db.get_log(args.session_id, args.user, as_of=as_of)
    if out.as_json:
        out.json_lines(entry.to_json() for entry in log)
        return 0
    out.print(events_table(log, provenance=args.provenance))
    return 0


def events_table(log: Sequence[LogEntry], *, provenance: bool = False) -> Any:
    """The log as a table: one row per event."""
    columns = ["version", "timestamp (UTC)", "event", "run_id", "details", "hash"]
    if provenance:
        columns += ["user", "correlation_id", "kern", "fingerprint", "metadata", "imported_from"]
    grid = table(*columns)
    for entry in log:
        cells: list[Any] = [
            str(entry.version),
            timestamp(entry.timestamp),
            entry.event_type,
            entry.run_id[:8] if entry.run_id else None,
            event_summary(entry.event, entry.payload),
            entry.hash[:12],
        ]
        if provenance:
            p = entry.provenance
            cells += [entry.user_id, p.correlation_id, p.kern_version, p.workflow_fingerprint]
            cells += [p.metadata, p.imported_from]
        add_row(grid, *cells)
    return grid


def history(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern history ID [--runs N] [--as-of AS_OF]``: the workflow history a next run would see."""
    session = require_session(db, args)
    pairs = session.get_workflow_history(num_runs=args.runs)
    context = session.get_workflow_history_context(num_runs=args.runs)
    if out.as_json:
        out.json(
            {
                "session_id": session.session_id,
                "runs": [{"input": i, "output": o} for i, o in pairs],
                "context": context,
            }
        )
        return 0
    grid = table("#", "input", "output")
    for number, (input_text, output_text) in enumerate(pairs, 1):
        add_row(grid, str(number), input_text, output_text)
    out.print(
        titled("Completed runs in the history", grid),
        "History context handed to steps with history on:",
        context or "(none)",
    )
    return 0


def _where(step_index: int, path: str) -> str:
    """A step's index, or the path of a step inside a step primitive."""
    return path if "." in path else str(step_index)


def step(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern step ID RUN_ID STEP``: what one step received, started with and returned."""
    require_log(db, args.session_id, args.user)
    view = db.get_step_view(args.session_id, args.run_id, parse_step(args.step), args.user)
    if out.as_json:
        out.json(view)
        return 0
    out.print(
        key_values(
            [
                ("session_id", view.session_id),
                ("run_id", view.run_id),
                (
                    "step",
                    f"{_where(view.step_index, view.path)}: {view.step_name} ({view.step_type})",
                ),
                ("executor", f"{view.executor_name} ({view.executor_type})"),
                ("recorded", f"version {view.version} at {timestamp(view.recorded_at)}"),
                ("outcome", "ok" if view.success else f"failed: {view.error}"),
                ("duration", f"{view.duration * 1000:.2f} ms"),
                ("session state", view.session_state),
                ("returned", view.content),
            ],
            title=f"Step {view.step_name!r} of run {view.run_id}",
        ),
        "Input the executor received:",
        view.input if isinstance(view.input, str) else key_values(_input_rows(view.input)),
    )
    return 0


def _input_rows(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(str(key), item) for key, item in value.items()]
    return [("input", value)]


def require_log(db: KernDb, session_id: str, user_id: str | None) -> list[LogEntry]:
    """The session's whole log; SessionNotFoundError when it is not there for ``user_id``."""
    log = db.get_log(session_id, user_id)
    if not log:
        raise SessionNotFoundError.of(session_id)
    return log


def require_session(db: KernDb, args: argparse.Namespace) -> WorkflowSession:
    """The session named by ``args`` (as of ``args.as_of`` when given)."""
    log = require_log(db, args.session_id, args.user)
    as_of = None if args.as_of is None else parse_as_of(args.as_of)
    session = db.get_session(args.session_id, args.user, as_of=as_of)
    if session is None:
        raise SessionNotFoundError(
            f"session {args.session_id!r} was deleted at version {len(log)}; "
            "give --as-of an earlier version",
            session_id=args.session_id,
        )
    return session


def event_summary(event: SessionEvent, payload: dict[str, Any] | None = None) -> str:
    """A one-line digest of what an event carries."""
    if isinstance(event, SessionStarted):
        return (
            f"workflow={event.workflow_id} user={event.user_id} state={short(event.session_state)}"
        )
    if isinstance(event, RunStarted):
        return f"input={short(event.input.value)}"
    if isinstance(event, StepCompleted):
        outcome = "ok" if event.success else f"error={short(event.error)}"
        changes = f" state_set={short(event.state_changes.set)}" if event.state_changes.set else ""
        return (
            f"{event.step_name} ({event.executor_type}, "
            f"{'index ' + str(event.step_index) if event.is_top_level else 'path ' + event.path}) "
            f"{outcome} "
            f"content={short(event.content.value)}{changes}"
        )
    if isinstance(event, StepAttemptFailed):
        return (
            f"{event.step_name} attempt {event.attempt} of {event.max_retries + 1} "
            f"error={short(event.error)}"
        )
    if isinstance(event, RunCompleted):
        error = f" error={short(event.error)}" if event.error else ""
        return f"status={event.status.value}{error} state_set={short(event.state_changes.set)}"
    if isinstance(event, SessionRenamed):
        return f"session_name={short(event.session_name)} autogenerated={event.autogenerated}"
    if isinstance(event, SessionStateUpdated):
        return f"set={short(event.changes.set)} removed={event.changes.removed}"
    if isinstance(event, SessionForked):
        return f"from {event.source_session_id} at version {event.source_version}"
    return " ".join(f"{key}={short(value)}" for key, value in (payload or {}).items())
