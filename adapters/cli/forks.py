"""``kern`` commands that try the past again: ``replay`` a recorded run against
a workflow's current code, and ``fork`` a session at a point."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from kern.adapters.cli.output import Output, add_row, key_values, short, table
from kern.adapters.cli.sessions import require_log, runs_table
from kern.adapters.cli.targets import load_workflow, parse_as_of
from kern.application.sessions import KernDb
from kern.domain.events import SessionForked


def replay(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern replay ID RUN_ID --workflow module:attr [--check]``: re-run a recorded
    run through the workflow's current steps, in a scratch store, and compare."""
    workflow = copy.copy(load_workflow(args.workflow))
    workflow.db = db  # the recorded run is read from --db; the replay never writes there
    require_log(db, args.session_id, args.user)
    report = workflow.replay(args.run_id, session_id=args.session_id, user_id=args.user)
    status = 1 if args.check and report.changed else 0
    if out.as_json:
        out.json(report)
        return status
    grid = table("#", "step", "outcome", "recorded", "replayed")
    for diff in report.steps:
        add_row(
            grid,
            diff.path if "." in diff.path else str(diff.index),  # an inner step by its path
            diff.name,
            diff.outcome,
            _value(diff.recorded),
            _value(diff.replayed),
        )
    output = report.output
    add_row(grid, "", "(output)", output.outcome, _value(output.recorded), _value(output.replayed))
    verdict = (
        "The current code gives different results for this run."
        if report.changed
        else "The current code gives the recorded results."
    )
    out.print(
        key_values(
            [
                ("session_id", report.session_id),
                ("run_id", report.run_id),
                (
                    "status",
                    f"recorded {_status(report.recorded_status)}, "
                    f"replayed {_status(report.replayed_status)}",
                ),
            ],
            title=f"Replay of run {report.run_id}",
        ),
        grid,
        verdict,
    )
    return status


def _value(value: Any) -> str:
    return "-" if value is None else short(value, 200)


def _status(status: Any) -> str:
    return str(getattr(status, "value", status))


def fork(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern fork ID --at AS_OF [--new-id X]``: a new session holding the history up
    to that point; the original stays as it was."""
    session = db.fork_session(
        args.session_id, at=parse_as_of(args.at), new_session_id=args.new_id, user_id=args.user
    )
    log = db.get_log(session.session_id)
    forked = next(e.event for e in log if isinstance(e.event, SessionForked))
    summary = {
        "session_id": session.session_id,
        "source_session_id": forked.source_session_id,
        "source_version": forked.source_version,
        "source_hash": forked.source_hash,
        "version": len(log),
        "runs": len(session.runs or []),
    }
    if out.as_json:
        out.json(summary)
        return 0
    out.print(
        f"Forked session {forked.source_session_id} at version {forked.source_version} "
        f"into {session.session_id} ({len(log)} events)",
        runs_table(session),
    )
    return 0


def diff(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern diff ID RUN_A RUN_B [--session-b ID2] [--check]``: two recorded runs,
    step by step; with --check, exit status 1 when they differ."""
    report = db.diff_runs(
        args.session_id, args.run_a, args.run_b, args.user, session_b=args.session_b
    )
    status = 1 if args.check and report.changed else 0
    if out.as_json:
        out.json(report)
        return status
    grid = table("step", "outcome", "field", "a", "b")
    for change in report.run:
        add_row(grid, "(run)", "changed", change.field, _value(change.a), _value(change.b))
    for step in report.steps:
        if not step.changes:
            add_row(grid, step.name, step.outcome, "", "", "")
        for change in step.changes:
            add_row(grid, step.name, step.outcome, change.field, _value(change.a), _value(change.b))
    where_b = f"{report.session_b}/" if report.session_b != report.session_a else ""
    verdict = "The runs differ." if report.changed else "The runs are the same."
    out.print(
        f"Run {report.session_a}/{report.run_a} (a) against {where_b}{report.run_b} (b)",
        grid,
        verdict,
    )
    return status
