"""The open-runs index: one row per run started and not yet ended, and when it last moved.

Stores keep the rows beside the listing index, written in the same
transaction as the append (:func:`open_run_changes` says what a batch of
events does to them), so ``get_interrupted_runs`` reads the few open runs,
never the logs. A row holds the version and the time of the run's last
event: a run whose last event is older than a few minutes, while its steps
take seconds, was most likely left RUNNING by a process that stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kern.domain.events import RunCompleted, RunEvent, SessionDeleted, SessionEvent

OPEN_RUN_COLUMNS = ("session_id", "run_id", "last_version", "last_at")
"""The open-runs index's columns."""


@dataclass(frozen=True)
class OpenRunRow:
    """One open run: the version and unix time of its last event."""

    session_id: str
    run_id: str
    last_version: int
    last_at: float


@dataclass(frozen=True)
class OpenRunChanges:
    """What one append does to the open-runs index of its session: rows to write
    (insert, or replace the run's row), runs that ended, and whether the
    session was deleted (its rows all go)."""

    session_id: str
    written: tuple[OpenRunRow, ...] = ()
    ended: tuple[str, ...] = ()
    session_deleted: bool = False

    def __bool__(self) -> bool:
        return bool(self.written or self.ended or self.session_deleted)


def open_run_changes(events: Sequence[SessionEvent]) -> OpenRunChanges:
    """The changes a batch of one session's appended events makes (in order):
    every run event but the terminal one writes its run's row, RunCompleted
    removes it, SessionDeleted removes them all. A run that starts and ends
    in one batch leaves nothing."""
    written: dict[str, OpenRunRow] = {}
    ended: dict[str, None] = {}
    deleted = False
    for event in events:
        if isinstance(event, SessionDeleted):
            written.clear()
            ended.clear()
            deleted = True
        elif isinstance(event, RunCompleted):
            written.pop(event.run_id, None)
            ended[event.run_id] = None
        elif isinstance(event, RunEvent):
            ended.pop(event.run_id, None)
            written[event.run_id] = OpenRunRow(
                event.session_id, event.run_id, event.version, event.timestamp.timestamp()
            )
    return OpenRunChanges(
        session_id=events[0].session_id if events else "",
        written=tuple(written.values()),
        ended=tuple(ended),
        session_deleted=deleted,
    )


@dataclass(frozen=True)
class InterruptedRun:
    """A run still RUNNING whose last event is older than asked: what
    ``get_interrupted_runs`` finds (resume it, or abandon it)."""

    session_id: str
    run_id: str
    user_id: str | None
    """The session's owner."""
    workflow_id: str | None
    last_version: int
    """The version of the run's last event."""
    last_event_at: datetime
    """When the run's last event was recorded (UTC)."""

    @classmethod
    def of(cls, row: OpenRunRow, user_id: str | None, workflow_id: str | None) -> InterruptedRun:
        """The interrupted run an index row (and its session's listing) describes."""
        return cls(
            session_id=row.session_id,
            run_id=row.run_id,
            user_id=user_id,
            workflow_id=workflow_id,
            last_version=row.last_version,
            last_event_at=datetime.fromtimestamp(row.last_at, UTC),
        )
