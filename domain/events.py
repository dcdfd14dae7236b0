"""The events of a workflow session: the only thing Kern stores.

Each event is a plain frozen dataclass. Its topic, ``kern.domain.events:Name``,
is stored with it and is a persisted contract: never rename or move a class
without adding the old topic to :data:`TOPIC_ALIASES`. ``schema_version``
counts changes to an event's fields; a change that is not purely additive
(a new field with a default) must bump it and register an upcaster from the
old version in :data:`kern.domain.records.UPCASTERS`, with a test that reads
a log the previous version wrote.

``session_id`` and ``version`` (1-based position in the session's stream) are
stored as columns by the stores, not inside the JSON payload. ``provenance``
says why and with what the event was recorded; ``hash`` chains it to the event
before it (see :mod:`kern.domain.encoding`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import JsonValue

from kern.domain.values import (
    ExecutorRun,
    Metrics,
    Provenance,
    RunStatus,
    StateChanges,
    StoredValue,
)


@dataclass(frozen=True, kw_only=True)
class SessionEvent:
    """Fields every event has: where it sits in which stream, when, and who."""

    schema_version: ClassVar[int] = 1

    session_id: str
    version: int
    timestamp: datetime
    user_id: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    hash: str = ""

    @classmethod
    def topic(cls) -> str:
        """The name stored with each event of this class."""
        return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True, kw_only=True)
class RunEvent(SessionEvent):
    """An event that belongs to one run; ``run_id`` is its causation."""

    run_id: str


@dataclass(frozen=True, kw_only=True)
class SessionStarted(SessionEvent):
    """A new session_id was first written to; its first event, always version 1."""

    workflow_id: str | None = None
    workflow_name: str | None = None
    workflow_data: dict[str, JsonValue] | None = None
    metadata: dict[str, JsonValue] | None = None
    session_state: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunStarted(RunEvent):
    """A run began, before its first step; carries its input and starting state."""

    input: StoredValue
    session_state: dict[str, JsonValue] = field(default_factory=dict)
    workflow_id: str | None = None
    workflow_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepCompleted(RunEvent):
    """One step of a run finished, successfully or not.

    ``input`` is exactly what the executor received (history context included),
    ``state_changes`` what the step did to the shared session state. A step
    that raised keeps the exception's class (``error_type``: its dotted name,
    just ``ValueError`` for a built-in) and its traceback as text.

    Schema version 2 added ``refs``: the parts of ``input`` and ``content``
    that repeat values already in the log, stored as references to them
    (see :mod:`kern.domain.refs`). Events always hold the full values.

    Schema version 3 added ``path``: where the step sits in the run's tree of
    steps when it ran inside a step primitive (``Steps``, ``Parallel``,
    ``Condition``, ``Loop``, ``Router``): dotted 1-based positions in the step
    results, ``"2.1.3"`` for the third result inside the first result of the
    run's second step. A top-level step leaves it empty (its path is
    ``step_index + 1``, :attr:`step_path`). ``step_index`` is the 0-based
    position of the top-level step the event belongs to, shared by every
    step recorded inside it. Version 3 changed no field of version 2, but an
    older reader would take an inner step for a top-level one, so it must
    refuse the new rows.
    """

    schema_version: ClassVar[int] = 3

    step_index: int
    step_name: str | None = None
    step_type: str = "function"
    executor_type: str = "function"
    executor_name: str | None = None
    executor_id: str | None = None
    input: StoredValue
    content: StoredValue
    success: bool = True
    error: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    executor_run: ExecutorRun | None = None
    state_changes: StateChanges = field(default_factory=StateChanges)
    error_type: str | None = None
    traceback: str | None = None
    refs: dict[str, list[str]] = field(default_factory=dict)
    path: str = ""

    @property
    def step_path(self) -> str:
        """Where the step sits in the run's tree: ``path``, or for a top-level step
        its 1-based position (``"3"`` for ``step_index`` 2)."""
        return self.path or str(self.step_index + 1)

    @property
    def is_top_level(self) -> bool:
        """True for a step of the workflow's own list (not one inside a primitive)."""
        return "." not in self.step_path


@dataclass(frozen=True, kw_only=True)
class StepAttemptFailed(RunEvent):
    """One attempt of a step raised; the step's policy decides what happens next.

    Every failed attempt of a step is recorded, the last one included, before
    the step is tried again or, its retries used up, recorded as a
    StepCompleted (skipped: ``success`` False) or ends the run as ERROR.
    ``step_index`` is the index that step's StepCompleted gets; ``attempt``
    counts from 1, out of ``max_retries + 1``. ``error``, ``error_type`` and
    ``traceback`` are as on StepCompleted; ``metrics`` times the attempt.
    """

    step_index: int
    step_name: str | None = None
    attempt: int
    max_retries: int = 0
    error: str
    error_type: str | None = None
    traceback: str | None = None
    metrics: Metrics = field(default_factory=Metrics)


@dataclass(frozen=True, kw_only=True)
class RunCompleted(RunEvent):
    """A run ended (COMPLETED, ERROR or CANCELLED); its state changes take effect.

    A run that failed keeps the exception's class (``error_type``) and its
    traceback as text beside ``error``, the safe rendering of its message.
    Schema version 2 added ``refs``, as on StepCompleted (usually: the run's
    content is the last step's).
    """

    schema_version: ClassVar[int] = 2

    status: RunStatus
    content: StoredValue = field(default_factory=lambda: StoredValue(type="null", value=None))
    error: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    state_changes: StateChanges = field(default_factory=StateChanges)
    error_type: str | None = None
    traceback: str | None = None
    refs: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunResumed(RunEvent):
    """A run left RUNNING (its process stopped mid-run) goes on in another call.

    The steps before ``step_index`` are finished: their StepCompleted events
    stand, and their outputs are reused, not run again. ``resumption`` counts
    the resumptions of the run (1 for the first): the writers of a run before
    it can no longer append to it.
    """

    step_index: int
    resumption: int = 1


@dataclass(frozen=True, kw_only=True)
class SessionRenamed(SessionEvent):
    """The session got a name, by hand or generated."""

    session_name: str
    autogenerated: bool = False


@dataclass(frozen=True, kw_only=True)
class SessionStateUpdated(SessionEvent):
    """The session state was changed outside a run (update_session_state)."""

    changes: StateChanges


@dataclass(frozen=True, kw_only=True)
class SessionDeleted(SessionEvent):
    """Tombstone: the session is gone from reads; its events stay for audit."""


@dataclass(frozen=True, kw_only=True)
class SessionForked(SessionEvent):
    """The events before it were copied from another session, up to and including
    ``source_version`` (whose hash was ``source_hash``); new runs go on from here."""

    source_session_id: str
    source_version: int
    source_hash: str


EVENT_CLASSES: tuple[type[SessionEvent], ...] = (
    SessionStarted,
    RunStarted,
    StepCompleted,
    RunCompleted,
    SessionRenamed,
    SessionStateUpdated,
    SessionDeleted,
    SessionForked,
    StepAttemptFailed,
    RunResumed,
)

# Old topic -> class, for events stored under a name that has since changed.
TOPIC_ALIASES: dict[str, type[SessionEvent]] = {}


def event_class(topic: str) -> type[SessionEvent]:
    """The class stored under ``topic``; KeyError for an unknown topic."""
    for cls in EVENT_CLASSES:
        if cls.topic() == topic:
            return cls
    return TOPIC_ALIASES[topic]


def event_fields(event: SessionEvent) -> dict[str, Any]:
    """The event's own fields, without the stream position (for display)."""
    return {
        name: getattr(event, name)
        for name in event.__dataclass_fields__
        if name not in ("session_id", "version")
    }
