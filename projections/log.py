"""What a session's log says, read for people: log entries and what a step saw.

Everything here is read from what was recorded; nothing is recomputed.
:func:`log_entries` and :func:`step_view` are plain functions over events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kern.domain.encoding import event_payload
from kern.domain.errors import InvalidInputError, RunNotFoundError, StepNotFoundError
from kern.domain.events import RunEvent, RunStarted, SessionEvent, StepCompleted
from kern.domain.values import Provenance, iso_utc

# Fields shown beside the payload in a LogEntry, so left out of it.
_ENVELOPE = ("schema_version", "timestamp", "user_id", "provenance", "run_id")
_CONTEXT_OPEN = "<workflow_history_context>"
_CONTEXT_CLOSE = "</workflow_history_context>\n"


@dataclass(frozen=True)
class LogEntry:
    """One event of a session's log, with its envelope spelled out.

    ``payload`` holds the event's own fields as JSON (what the event says);
    version, timestamp, run_id, user_id, provenance and hash are beside it.
    """

    version: int
    timestamp: datetime
    event_type: str
    run_id: str | None
    user_id: str | None
    payload: dict[str, Any]
    provenance: Provenance
    hash: str
    event: SessionEvent

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamp as ISO 8601 UTC ending in ``Z``)."""
        return {
            "version": self.version,
            "timestamp": iso_utc(self.timestamp),
            "event_type": self.event_type,
            "run_id": self.run_id,
            "user_id": self.user_id,
            "payload": self.payload,
            "provenance": self.provenance.model_dump(mode="json"),
            "hash": self.hash,
        }


def log_entry(event: SessionEvent) -> LogEntry:
    """The log entry of one event."""
    payload = {k: v for k, v in event_payload(event).items() if k not in _ENVELOPE}
    return LogEntry(
        version=event.version,
        timestamp=event.timestamp.astimezone(UTC),
        event_type=type(event).__name__,
        run_id=event.run_id if isinstance(event, RunEvent) else None,
        user_id=event.user_id,
        payload=payload,
        provenance=event.provenance,
        hash=event.hash,
        event=event,
    )


def log_entries(events: Sequence[SessionEvent]) -> list[LogEntry]:
    """The log entries of ``events``, in order."""
    return [log_entry(event) for event in events]


def _run_started(events: Sequence[SessionEvent], run_id: str) -> RunStarted | None:
    return next(
        (e for e in events if isinstance(e, RunStarted) and e.run_id == run_id),
        None,
    )


@dataclass(frozen=True)
class StepView:
    """One recorded step: what its executor received and what it returned.

    ``input`` is the recorded JSON value of what the executor received: the
    message (history context included) for an agent or team, the dict of
    ``input``, ``previous_step_content`` and ``workflow_history_context`` for
    a function. ``session_state`` is the state the step started with (a step
    inside a Parallel sees none of its sibling steps' changes: each runs on
    its own copy). ``path`` is where the step sits in the run's tree ("2" for
    the second step, "2.1.3" inside step primitives); ``step_index`` is the
    top-level step it belongs to.
    """

    session_id: str
    run_id: str
    step_index: int
    step_name: str | None
    step_type: str
    executor_type: str
    executor_name: str | None
    version: int
    recorded_at: datetime
    input: Any
    history_context: str | None
    session_state: dict[str, Any]
    content: Any
    success: bool
    error: str | None
    duration: float
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (recorded_at as ISO 8601 UTC ending in ``Z``)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["recorded_at"] = iso_utc(self.recorded_at)
        return data


def step_view(
    events: Sequence[SessionEvent], session_id: str, run_id: str, step: int | str
) -> StepView:
    """The view of ``step`` of ``run_id`` from the session's events: a top-level
    step by its index (int), any step by its name (the first recorded of that
    name) or by its path in the tree (a dotted str, "2.1.3").

    RunNotFoundError when the run was never started; StepNotFoundError (an
    InvalidInputError) when it recorded no such step.
    """
    if isinstance(step, bool) or not isinstance(step, int | str):
        raise InvalidInputError(
            "step must be a step index (int), or a name or dotted path (str), "
            f"got {type(step).__name__}"
        )
    started = _run_started(events, run_id)
    if started is None:
        raise RunNotFoundError.of(session_id, run_id)
    steps = [e for e in events if isinstance(e, StepCompleted) and e.run_id == run_id]
    position = _find_step(steps, step)
    if position is None:
        recorded = ", ".join(_described(s) for s in steps) or "none"
        raise StepNotFoundError(
            f"run {run_id!r} of session {session_id!r} recorded no step {step!r} "
            f"(recorded steps: {recorded})"
        )
    seen = steps[position]
    parallels = {s.step_path for s in steps if s.step_type == "Parallel"}
    state: dict[str, Any] = dict(started.session_state)
    for earlier in steps[:position]:
        if not _in_sibling_branch(earlier.step_path, seen.step_path, parallels):
            state = earlier.state_changes.apply_to(state)
    return _view(seen, state)


def _described(step: StepCompleted) -> str:
    where = f"{step.step_index}" if step.is_top_level else step.step_path
    return f"{where}: {step.step_name}"


def is_step_path(step: str) -> bool:
    """True for a dotted path of an inner step ("2.1", "2.1.3")."""
    parts = step.split(".")
    return len(parts) > 1 and all(p.isascii() and p.isdigit() for p in parts)


def _find_step(steps: Sequence[StepCompleted], step: int | str) -> int | None:
    for position, completed in enumerate(steps):
        if isinstance(step, int):
            found = completed.is_top_level and completed.step_index == step
        elif is_step_path(step):
            found = completed.step_path == step
        else:
            found = completed.step_name == step
        if found:
            return position
    return None


def _in_sibling_branch(earlier: str, path: str, parallels: set[str]) -> bool:
    """Whether ``earlier`` ran in another branch of a Parallel ``path`` is in."""
    a, b = earlier.split("."), path.split(".")
    for depth in range(1, min(len(a), len(b))):
        if a[:depth] != b[:depth]:
            return False
        if ".".join(a[:depth]) in parallels and a[depth] != b[depth]:
            return True
    return False


def _view(event: StepCompleted, state: dict[str, Any]) -> StepView:
    received = event.input.value
    return StepView(
        session_id=event.session_id,
        run_id=event.run_id,
        step_index=event.step_index,
        step_name=event.step_name,
        step_type=event.step_type,
        executor_type=event.executor_type,
        executor_name=event.executor_name,
        version=event.version,
        recorded_at=event.timestamp.astimezone(UTC),
        input=received,
        history_context=history_context_of(event.executor_type, received),
        session_state=state,
        content=event.content.value,
        success=event.success,
        error=event.error,
        duration=event.metrics.duration,
        path=event.step_path,
    )


def history_context_of(executor_type: str, received: Any) -> str | None:
    """The workflow history context inside what an executor received, if any."""
    if executor_type in ("agent", "team"):
        if isinstance(received, str) and received.startswith(_CONTEXT_OPEN):
            end = received.find(_CONTEXT_CLOSE)
            if end != -1:
                return received[: end + len(_CONTEXT_CLOSE)]
        return None
    if isinstance(received, dict):
        context = received.get("workflow_history_context")
        return context if isinstance(context, str) else None
    return None
