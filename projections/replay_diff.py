"""The replay diff: a recorded run against the same run replayed, step by step.

Steps are matched by name, in order (a step renamed in place is compared
with the one it replaced): each comes out ``equal`` or ``changed`` (with both
values), ``added`` (only in the replay) or ``missing`` (only in the
recording). A step's value is its content, or its error text when it failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Any, Literal

from kern.domain.events import RunCompleted, RunEvent, RunStarted, SessionEvent, StepCompleted
from kern.domain.values import RunStatus, same_json

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
    path: str = ""
    """Where the step sits in its run's tree ("2", or "2.1.3" inside step primitives)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {
            "index": self.index,
            "name": self.name,
            "outcome": self.outcome,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "path": self.path,
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
class RecordedRun:
    """A run's events: its start, its steps in order, and its end if it has one."""

    started: RunStarted
    steps: list[StepCompleted]
    completed: RunCompleted | None

    @classmethod
    def find(cls, events: Sequence[SessionEvent], run_id: str) -> RecordedRun | None:
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
        return StepDiff(new.step_index, new.step_name, "added", None, _value(new), new.step_path)
    if new is None:
        return StepDiff(old.step_index, old.step_name, "missing", _value(old), None, old.step_path)
    same = same_json((old.success, _value(old)), (new.success, _value(new)))
    outcome: Outcome = "equal" if same else "changed"
    return StepDiff(new.step_index, new.step_name, outcome, _value(old), _value(new), new.step_path)


def _value(step: StepCompleted) -> Any:
    """What a step gave: its content, or its error text when it failed."""
    if not step.success and step.error is not None:
        return step.error
    return step.content.value
