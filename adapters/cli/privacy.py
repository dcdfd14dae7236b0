"""``kern`` forgetting commands: ``erase`` (on a store with a keyring, the data keys
of a user, a session or old sessions destroyed; ``--purge``, a session's log
deleted) and ``erasures`` (the erasure ledger), each erasure recorded in it.

Both are admin operations: they act on every user's sessions and take no
``--user``.
"""

from __future__ import annotations

import argparse

from kern.adapters.cli.output import Output, add_row, table, timestamp
from kern.adapters.cli.targets import UsageError, parse_age
from kern.application.sessions import KernDb
from kern.domain.sealing import ERASED

DEFAULT_REQUESTER = "kern erase"
"""``requested_by`` when ``--requested-by`` is not given."""


def erase(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern erase --user U | --session ID | --older-than AGE``: destroy the data
    keys (a store with a keyring) and print the ledger entry; ``--session ID
    --purge``: delete the session's log instead."""
    chosen = [o for o in (args.user, args.session_id, args.older_than) if o is not None]
    if len(chosen) != 1:
        raise UsageError("kern erase needs exactly one of --user U, --session ID, --older-than AGE")
    if args.workflow_id is not None and args.older_than is None:
        raise UsageError("--workflow-id applies to --older-than only")
    if args.purge and args.session_id is None:
        raise UsageError("--purge deletes one session's log: give --session ID")
    if args.purge:
        return _purge(db, args, out)
    requested_by = args.requested_by or DEFAULT_REQUESTER
    if args.user is not None:
        found = db.erase_user(args.user, reason=args.reason, requested_by=requested_by)
    elif args.session_id is not None:
        found = db.erase_session(args.session_id, reason=args.reason, requested_by=requested_by)
    else:
        found = db.erase_older_than(
            parse_age(args.older_than),
            reason=args.reason,
            requested_by=requested_by,
            workflow_id=args.workflow_id,
        )
    if out.as_json:
        out.json(found.to_json() if found is not None else None)
        return 0
    if found is None:
        out.print("nothing to erase: no data key of it is left (erased before, or none)")
        return 0
    out.print(
        f"erased {found.sessions} session(s): their data keys destroyed, their values "
        f"read as {ERASED!r} from now on; recorded as erasure {found.erasure_id}"
    )
    return 0


def _purge(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern erase --session ID --purge --reason TEXT``: purge the session and
    print the ledger entry that records it."""
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
