"""Forking: the events of a new session whose history is another session's, up to a point.

The fork holds copies of the source's events 1..v, re-keyed to the fork's
session_id and sealed into the fork's own hash chain (timestamps, user_id and
provenance are kept), then a SessionForked naming the source, the version
copied up to and that version's hash. Runs still open at the fork point are
ended on the fork as CANCELLED, so the fork accepts new runs at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from kern.domain.aggregate import SessionAggregate
from kern.domain.encoding import GENESIS_HASH, event_hash
from kern.domain.errors import SessionDeletedError
from kern.domain.events import SessionEvent
from kern.domain.values import Provenance, RunStatus, StoredValue

CANCELLED_BY_FORK = "open when the session was forked"


def fork_version(at: int | datetime | str, resolved: int) -> int:
    """The last source version the fork copies: for a run_id, the one before its RunStarted."""
    return resolved - 1 if isinstance(at, str) else resolved


def fork_events(
    copied: Sequence[SessionEvent],
    new_session_id: str,
    *,
    user_id: str | None,
    provenance: Provenance,
) -> list[SessionEvent]:
    """The fork's events: ``copied`` re-keyed and re-sealed, SessionForked, and
    a CANCELLED end for each run left open."""
    last = copied[-1]
    events = reseal(copied, new_session_id)
    fork = SessionAggregate.replay(new_session_id, events)
    if fork.deleted:
        raise SessionDeletedError(
            f"session {last.session_id!r} was deleted at version {last.version}; "
            "fork it at an earlier point",
            session_id=last.session_id,
        )
    fork.record_fork(
        user_id=user_id,
        source_session_id=last.session_id,
        source_version=last.version,
        source_hash=last.hash,
        provenance=provenance,
    )
    for run_id in list(fork.runs):  # the open runs; completing one removes it
        fork.complete_run(
            run_id=run_id,
            user_id=user_id,
            status=RunStatus.cancelled,
            content=StoredValue.of(None),
            error=CANCELLED_BY_FORK,
            provenance=provenance,
        )
    return [*events, *fork.take_pending()]


def reseal(events: Sequence[SessionEvent], session_id: str) -> list[SessionEvent]:
    """Copies of ``events`` under ``session_id``, chained anew from the genesis hash."""
    sealed: list[SessionEvent] = []
    previous = GENESIS_HASH
    for event in events:
        copy = replace(event, session_id=session_id)
        copy = replace(copy, hash=event_hash(previous, copy))
        sealed.append(copy)
        previous = copy.hash
    return sealed
