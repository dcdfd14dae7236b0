"""What a real Kern session log is: the rules a log from outside (an import) must meet.

Kern's own writes go through :class:`~kern.domain.aggregate.SessionAggregate`,
so they always meet these rules; a log read from a file may not. A log is
one SessionStarted, first, then events whose timestamps never go back, whose
``user_id`` is the owner's or None (an unscoped write), whose texts every
store can keep, whose runs start once and end once, and nothing after the
SessionDeleted tombstone. Pure: the events come from whoever decoded them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from kern.domain.errors import InvalidInputError
from kern.domain.events import (
    RunCompleted,
    RunEvent,
    RunResumed,
    RunStarted,
    SessionDeleted,
    SessionEvent,
    SessionStarted,
    StepAttemptFailed,
    StepCompleted,
)
from kern.domain.identity import check_text, validate_user_id

_TEXTS = ("workflow_id", "workflow_name", "session_name", "run_id")
"""The ids and names an event may carry, each checked as the API checks it."""


class LogProblem(NamedTuple):
    """The first event of a log that breaks a rule, and which rule."""

    version: int
    problem: str


def log_problem(events: Sequence[SessionEvent]) -> LogProblem | None:
    """The first event of ``events`` (one session's, in order) that Kern could not
    have written, or None when the whole log is one Kern could have written."""
    if not events:
        return LogProblem(1, "the log has no events")
    if not isinstance(events[0], SessionStarted):
        return LogProblem(events[0].version, "the log does not begin with SessionStarted")
    owner = events[0].user_id
    runs: dict[str, bool] = {}
    for position, event in enumerate(events):
        previous = events[position - 1] if position else None
        problem = _event_problem(event, previous, owner, runs)
        if problem is not None:
            return LogProblem(event.version, problem)
    return None


def _event_problem(
    event: SessionEvent, previous: SessionEvent | None, owner: str | None, runs: dict[str, bool]
) -> str | None:
    """What makes ``event`` impossible after ``previous`` (None for the first)."""
    if previous is not None:
        if isinstance(event, SessionStarted):
            return "a second SessionStarted: a session starts once"
        if isinstance(previous, SessionDeleted):
            return f"{type(event).__name__} after the session was deleted"
        if event.timestamp < previous.timestamp:
            return "the timestamp goes back before the previous event's"
    return _text_problem(event) or _owner_problem(event, owner) or _run_problem(event, runs)


def _text_problem(event: SessionEvent) -> str | None:
    """What the API would refuse in the event's ids and names."""
    if isinstance(event, RunEvent) and not event.run_id:
        return "run_id must be a non-empty string"
    try:
        validate_user_id(event.user_id)
        for name in _TEXTS:
            check_text(getattr(event, name, None), what=name)
    except InvalidInputError as exc:
        return str(exc)
    return None


def _owner_problem(event: SessionEvent, owner: str | None) -> str | None:
    if event.user_id is None or event.user_id == owner:
        return None
    return f"user_id {event.user_id!r} is not the session owner's ({owner!r})"


def _run_problem(event: SessionEvent, runs: dict[str, bool]) -> str | None:
    """Runs start once, then take steps and end once; ``runs`` maps run_id to finished."""
    if isinstance(event, RunStarted):
        if event.run_id in runs:
            return f"run {event.run_id!r} starts a second time"
        runs[event.run_id] = False
    elif isinstance(event, StepAttemptFailed | StepCompleted | RunCompleted | RunResumed):
        if event.run_id not in runs:
            return f"run {event.run_id!r} was never started"
        if runs[event.run_id]:
            return f"run {event.run_id!r} had already finished"
        runs[event.run_id] = isinstance(event, RunCompleted)
    return None
