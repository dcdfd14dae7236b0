"""``kern`` forgetting commands: ``erase`` (without a keyring: ``--purge``, which
deletes a session's log and records it) and ``erasures`` (the erasure ledger).

Both are admin operations: they act on every user's sessions and take no
``--user``.
"""

from __future__ import annotations

import argparse

from kern.adapters.cli.output import Output, add_row, table, timestamp
from kern.adapters.cli.targets import UsageError
from kern.application.sessions import KernDb

DEFAULT_REQUESTER = "kern erase"
"""``requested_by`` when ``--requested-by`` is not given."""


def erase(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern erase --session ID --purge --reason TEXT``: purge the session and
    print the ledger entry that records it."""
    if args.session_id is None:
        raise UsageError("kern erase needs --session ID")
    if not args.purge:
        raise UsageError(
            "kern erase --session deletes the session's events: add --purge to say so "
            "(the purge is recorded in the erasure ledger; see kern erasures)"
        )
    entry = db.purge_session(
        args.session_id, reason=args.reason, requested_by=args.requested_by or DEFAULT_REQUESTER
    )
    if out.as_json:
        out.json(entry.to_json())
        return 0
    out.print(
        f"purged session {entry.subject} (its log ended at version "
        f"{entry.detail.get('purged_head_version')}); recorded as erasure {entry.erasure_id}"
    )
    return 0


def erasures(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern erasures``: the erasure ledger, oldest first."""
    entries = db.erasures()
    if out.as_json:
        out.json([entry.to_json() for entry in entries])
        return 0
    grid = table("erased_at", "kind", "subject", "requested_by", "reason", "erasure_id")
    for entry in entries:
        add_row(
            grid,
            timestamp(entry.erased_at),
            entry.kind,
            entry.subject,
            entry.requested_by,
            entry.reason,
            entry.erasure_id,
        )
    out.print(grid, f"{len(entries)} erasure(s) recorded")
    return 0
