"""Replay: run a recorded run again through a workflow's current steps, and compare.

The replay starts from the session as it stood just before the run: the
recorded events before its RunStarted are copied, byte for byte, into a
scratch in-memory store, so the steps see the same history, and the run is
given the session state recorded in its RunStarted and its recorded input
(the JSON value). The original store is only read.

Steps are matched by name, in order (a step renamed in place is compared
with the one it replaced): each comes out ``equal`` or ``changed`` (with both
values), ``added`` (only in the replay) or ``missing`` (only in the
recording). A step's value is its content, or its error text when it failed;
a replayed step that raises is reported, never raised.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, Literal

from kern.adapters.db import KernDb
from kern.adapters.memory import InMemoryStore
from kern.domain.errors import RunNotFoundError, SessionNotFoundError
from kern.domain.events import RunCompleted, RunEvent, RunStarted, SessionEvent, StepCompleted
from kern.domain.values import RunStatus, same_json

if TYPE_CHECKING:
    from kern.adapters.workflow import Workflow

Outcome = Literal["equal", "changed", "added", "missing"]


@dataclass(frozen=True)
class StepDiff:
    """One step, recorded against replayed. ``index`` is the step's index in the
    replay (in the recording for a ``missing`` step); a side without the step
    holds None."""

    index: int
    name: str | None
    outcome: Outcome
    recorded: Any
    replayed: Any

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {
            "index": self.index,
            "name": self.name,
            "outcome": self.outcome,
            "recorded": self.recorded,
            "replayed": self.replayed,
        }


@dataclass(frozen=True)
class OutputDiff:
    """The run's final output (its content, or its error text), recorded against replayed."""

    outcome: Literal["equal", "changed"]
    recorded: Any
    replayed: Any

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {"outcome": self.outcome, "recorded": self.recorded, "replayed": self.replayed}


@dataclass(frozen=True)
class ReplayReport:
    """What replaying a run through the current steps gave, step by step."""

    run_id: str
    session_id: str
    recorded_status: RunStatus
    replayed_status: RunStatus
    steps: list[StepDiff]
    output: OutputDiff

    @property
    def changed(self) -> bool:
        """True when any step, the output or the run's status differs."""
        return (
            self.recorded_status != self.replayed_status
            or self.output.outcome != "equal"
            or any(step.outcome != "equal" for step in self.steps)
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields, ``changed``, and each diff's dict."""
        return {
            "run_id": self.run_id,
            "session_id": self.session_id,
            "recorded_status": self.recorded_status.value,
            "replayed_status": self.replayed_status.value,
            "changed": self.changed,
            "steps": [step.to_json() for step in self.steps],
            "output": self.output.to_json(),
        }


@dataclass(frozen=True)
class _RecordedRun:
    """A run's events: its start, its steps in order, and its end if it has one."""

    started: RunStarted
    steps: list[StepCompleted]
    completed: RunCompleted | None

    @classmethod
    def find(cls, events: Sequence[SessionEvent], run_id: str) -> _RecordedRun | None:
        mine = [e for e in events if isinstance(e, RunEvent) and e.run_id == run_id]
        started = next((e for e in mine if isinstance(e, RunStarted)), None)
        if started is None:
            return None
        return cls(
            started=started,
            steps=[e for e in mine if isinstance(e, StepCompleted)],
            completed=next((e for e in mine if isinstance(e, RunCompleted)), None),
        )

    @property
    def status(self) -> RunStatus:
        return self.completed.status if self.completed else RunStatus.running

    @property
    def output(self) -> Any:
        if self.completed is None:
            return None
        if self.completed.status == RunStatus.completed:
            return self.completed.content.value
        return self.completed.error


def replay_run(
    workflow: Workflow, run_id: str, session_id: str, user_id: str | None
) -> ReplayReport:
    """Replay ``run_id`` of ``session_id`` through ``workflow``'s steps; see the module doc.

    SessionNotFoundError when the session is not visible to ``user_id``,
    RunNotFoundError when it never started the run.
    """
    store = workflow.db.store
    events = store.read(session_id)
    if not events or (user_id is not None and events[0].user_id != user_id):
        raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
    recorded = _RecordedRun.find(events, run_id)
    if recorded is None:
        raise RunNotFoundError(
            f"run {run_id!r} not found in session {session_id!r}",
            session_id=session_id,
            run_id=run_id,
        )
    before = recorded.started.version - 1
    scratch = KernDb(InMemoryStore())
    scratch.store.append_records(
        [r for r in store.read_records(session_id) if r.originator_version <= before]
    )
    replayed = _run_again(workflow, scratch, recorded.started)
    return ReplayReport(
        run_id=run_id,
        session_id=session_id,
        recorded_status=recorded.status,
        replayed_status=replayed.status,
        steps=diff_steps(recorded.steps, replayed.steps),
        output=OutputDiff(
            outcome="equal"
            if same_json((recorded.status, recorded.output), (replayed.status, replayed.output))
            else "changed",
            recorded=recorded.output,
            replayed=replayed.output,
        ),
    )


def _run_again(workflow: Workflow, scratch: KernDb, started: RunStarted) -> _RecordedRun:
    """Run the recorded input again on a copy of ``workflow`` writing to ``scratch``."""
    again = copy.copy(workflow)
    again.db, again.user_id = scratch, None
    try:
        again.run(
            input=started.input.value,
            session_id=started.session_id,
            user_id=started.user_id,
            session_state=started.session_state,
            run_id=started.run_id,
            correlation_id=started.provenance.correlation_id,
            metadata=started.provenance.metadata,
        )
    except Exception as exc:
        failure: Exception | None = exc  # recorded as the run's error; reported, not raised
    else:
        failure = None
    events = scratch.store.read(started.session_id, after=started.version - 1)
    replayed = _RecordedRun.find(events, started.run_id)
    if replayed is None:  # the run never started: not a step failing, a real error
        assert failure is not None
        raise failure
    return replayed


def diff_steps(
    recorded: Sequence[StepCompleted], replayed: Sequence[StepCompleted]
) -> list[StepDiff]:
    """Match steps by name in order and compare each pair (see the module doc)."""
    matcher = SequenceMatcher(
        a=[s.step_name for s in recorded], b=[s.step_name for s in replayed], autojunk=False
    )
    diffs: list[StepDiff] = []
    for _, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        pairs = zip_longest(recorded[a_start:a_end], replayed[b_start:b_end])
        diffs.extend(_step_diff(old, new) for old, new in pairs)
    return diffs


def _step_diff(old: StepCompleted | None, new: StepCompleted | None) -> StepDiff:
    if old is None:
        assert new is not None
        return StepDiff(new.step_index, new.step_name, "added", None, _value(new))
    if new is None:
        return StepDiff(old.step_index, old.step_name, "missing", _value(old), None)
    same = same_json((old.success, _value(old)), (new.success, _value(new)))
    return StepDiff(
        new.step_index, new.step_name, "equal" if same else "changed", _value(old), _value(new)
    )


def _value(step: StepCompleted) -> Any:
    """What a step gave: its content, or its error text when it failed."""
    if not step.success and step.error is not None:
        return step.error
    return step.content.value
