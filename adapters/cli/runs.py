"""``kern runs`` lists the runs still RUNNING (``--interrupted``: those whose last
event is older than ``--older-than``, most likely left so by a process that
stopped); ``kern abandon`` ends one that will not be resumed.

A run is resumed from code, by the workflow that runs it
(``workflow.resume(run_id=..., session_id=...)``): the command line cannot
call its steps.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from kern.adapters.cli.output import Output, add_row, table, timestamp
from kern.adapters.cli.targets import UsageError, parse_age
from kern.application.sessions import INTERRUPTED_AFTER, KernDb
from kern.domain.errors import RunNotFoundError


def list_runs(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern runs [--interrupted [--older-than AGE]]``: the open runs, the ones
    still the longest first."""
    if args.older_than is not None and not args.interrupted:
        raise UsageError("--older-than goes with --interrupted")
    older_than = timedelta(0)
    if args.interrupted:
        older_than = parse_age(args.older_than) if args.older_than else INTERRUPTED_AFTER
    runs = db.get_interrupted_runs(older_than, user_id=args.user)
    if out.as_json:
        out.json(runs)
        return 0
    grid = table("session_id", "run_id", "user", "workflow", "last event", "version")
    for run in runs:
        add_row(
            grid,
            run.session_id,
            run.run_id,
            run.user_id,
            run.workflow_id,
            timestamp(run.last_event_at),
            str(run.last_version),
        )
    what = "interrupted run(s)" if args.interrupted else "run(s) still RUNNING"
    out.print(grid, f"{len(runs)} {what}")
    if runs:
        out.note(
            "resume one from its workflow (workflow.resume(run_id=..., session_id=...)), "
            "or give it up: kern abandon RUN_ID --reason TEXT"
        )
    return 0


def abandon(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern abandon RUN_ID --reason TEXT [--session ID]``: record the run
    CANCELLED with the reason. Without --session, the session is the one whose
    open run has that id (UsageError when several have)."""
    session_id = args.session_id or _session_of(db, args.run_id, args.user)
    run = db.abandon_run(args.run_id, session_id, reason=args.reason, user_id=args.user)
    if out.as_json:
        out.json(
            {
                "session_id": session_id,
                "run_id": run.run_id,
                "status": run.status,
                "error": run.error,
            }
        )
        return 0
    out.print(f"abandoned run {run.run_id} of session {session_id}: {run.status.value}")
    return 0


def _session_of(db: KernDb, run_id: str, user_id: str | None) -> str:
    """The session of the open run ``run_id``."""
    found = db.get_interrupted_runs(timedelta(0), user_id, run_id=run_id)
    sessions = sorted({run.session_id for run in found})
    if len(sessions) > 1:
        raise UsageError(
            f"run {run_id!r} is open in {len(sessions)} sessions "
            f"({', '.join(sessions)}): name one with --session"
        )
    if not sessions:
        raise RunNotFoundError(
            f"no open run {run_id!r} (kern runs lists them)", session_id="", run_id=run_id
        )
    return sessions[0]
