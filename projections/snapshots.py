"""Snapshots: a session's write model and run index at one version, as bytes.

A snapshot lets a process that has not seen a session start from it plus the
events after it, instead of from the first event: its size does not grow with
the runs' content (the run index holds versions, not texts), only by eight
bytes per finished run (:func:`kern.domain.aggregate.run_key`).

It is derived data, never trusted: :func:`restore` refuses bytes whose
checksum, format or session do not match (:class:`UnusableSnapshot`), and the
store checks the hash it records against the event stored at its version
before using it. Verification and audits never read snapshots.

The body is compact JSON::

    {"format": 2, "session_id": ..., "version": V, "hash": <event hash at V>,
     "aggregate": {"owner", "deleted", "state", "session_name", "last_timestamp",
                   "open_runs": {run_id: [next step index, resumptions]},
                   "finished": base64 digests},
     "history": {"floor", "deleted_at", "runs": [[run_id, started, ended, status], ...]}}
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kern.domain.aggregate import RunState, SessionAggregate
from kern.domain.values import RunStatus
from kern.projections.history import HistoryRun, RunHistory

SNAPSHOT_FORMAT = 2
"""The body's layout; a snapshot of another format is ignored (and rebuilt)."""

HISTORY_RUNS = 100
"""Runs a snapshot's run index keeps (the newest; open runs are kept too): history
asked for more runs than this, on a session restored from a snapshot, is read
from the whole log."""


class UnusableSnapshot(Exception):
    """The snapshot's bytes cannot be used: corrupt, another format or another session."""


@dataclass(frozen=True)
class SnapshotRow:
    """A snapshot as a store keeps it: one row per session, the newest only."""

    session_id: str
    version: int
    format: int
    head_hash: str
    """The hash of the session's event at ``version``."""
    checksum: str
    """SHA-256 (hex) of ``body``."""
    body: bytes


def take(aggregate: SessionAggregate, history: RunHistory) -> SnapshotRow:
    """The snapshot of a session whose write model and history both stand at one version."""
    if history.version != aggregate.version:
        raise ValueError("the write model and the history must stand at one version")
    body = json.dumps(
        {
            "format": SNAPSHOT_FORMAT,
            "session_id": aggregate.session_id,
            "version": aggregate.version,
            "hash": aggregate.last_hash,
            "aggregate": _aggregate_part(aggregate),
            "history": _history_part(history, aggregate.runs),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return SnapshotRow(
        session_id=aggregate.session_id,
        version=aggregate.version,
        format=SNAPSHOT_FORMAT,
        head_hash=aggregate.last_hash,
        checksum=hashlib.sha256(body).hexdigest(),
        body=body,
    )


def _aggregate_part(aggregate: SessionAggregate) -> dict[str, Any]:
    finished = struct.pack(f">{len(aggregate.finished)}Q", *aggregate.finished)
    stamp = aggregate.last_timestamp
    return {
        "owner": aggregate.owner,
        "deleted": aggregate.deleted,
        "state": aggregate.state,
        "session_name": aggregate.session_name,
        "last_timestamp": stamp.isoformat() if stamp is not None else None,
        "open_runs": {
            run_id: [run.next_step, run.resumptions] for run_id, run in aggregate.runs.items()
        },
        "finished": base64.b64encode(finished).decode(),
    }


def _history_part(history: RunHistory, open_runs: Iterable[str]) -> dict[str, Any]:
    held = history.runs
    cut = max(len(held) - HISTORY_RUNS, 0)
    recent = held[cut:]
    if cut:
        floor = recent[0].started if recent else history.version + 1
        # The open runs, from the write model: a walk over every run would grow.
        found = (history.find(run_id) for run_id in open_runs)
        older = [r for r in found if r is not None and r.started < floor]
        older_open = sorted(older, key=lambda r: r.started)
    else:
        floor, older_open = history.floor, []
    return {
        "floor": floor,
        "deleted_at": history.deleted_at,
        "runs": [[r.run_id, r.started, r.ended, r.status.value] for r in older_open + recent],
    }


def restore(row: SnapshotRow, session_id: str) -> tuple[SessionAggregate, RunHistory]:
    """The write model and the (partial) run history ``row`` holds;
    UnusableSnapshot if its bytes or what they say do not match ``row``."""
    if row.format != SNAPSHOT_FORMAT:
        raise UnusableSnapshot(f"snapshot format {row.format}, this Kern reads {SNAPSHOT_FORMAT}")
    if hashlib.sha256(row.body).hexdigest() != row.checksum:
        raise UnusableSnapshot("the snapshot's bytes do not match its checksum")
    try:
        body = json.loads(row.body)
        said = (body["format"], body["session_id"], body["version"], body["hash"])
        if said != (row.format, session_id, row.version, row.head_hash):
            raise UnusableSnapshot("the snapshot's body does not match its row")
        return _aggregate(body, session_id), _history(body)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnusableSnapshot(f"the snapshot cannot be read: {exc!r}") from None


def _aggregate(body: dict[str, Any], session_id: str) -> SessionAggregate:
    part = body["aggregate"]
    finished = base64.b64decode(part["finished"], validate=True)
    if len(finished) % 8:
        raise ValueError("finished run digests are 8 bytes each")
    stamp = part["last_timestamp"]
    return SessionAggregate(
        session_id=session_id,
        version=int(body["version"]),
        owner=part["owner"],
        deleted=bool(part["deleted"]),
        state=dict(part["state"]),
        session_name=part["session_name"],
        last_timestamp=datetime.fromisoformat(stamp) if stamp is not None else None,
        last_hash=str(body["hash"]),
        runs={
            str(run_id): RunState(int(step), int(resumptions))
            for run_id, (step, resumptions) in part["open_runs"].items()
        },
        finished=set(struct.unpack(f">{len(finished) // 8}Q", finished)),
    )


def _history(body: dict[str, Any]) -> RunHistory:
    part = body["history"]
    runs = [
        HistoryRun(
            run_id=str(run_id),
            started=int(started),
            input=None,
            ended=None if ended is None else int(ended),
            status=RunStatus(status),
            loaded=False,
        )
        for run_id, started, ended, status in part["runs"]
    ]
    deleted_at = part["deleted_at"]
    return RunHistory.partial(
        int(body["version"]),
        int(part["floor"]),
        runs,
        None if deleted_at is None else int(deleted_at),
    )
