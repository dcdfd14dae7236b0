"""Two recorded runs, compared step by step: what changed in inputs, outputs, state and status.

The runs may be of one session or of two (a run in a fork against the
original). Steps are aligned by name, in order, as the replay diff aligns
them (:func:`kern.projections.replay_diff.diff_steps`): each step comes out
``equal``, ``changed`` (naming the fields that differ, with both values),
``only_a`` or ``only_b``. A step's fields are its ``input`` (what it
received), ``output`` (its content, or its error text when it failed),
``success`` and ``state_changes``; the run's are its ``input``, ``output``,
``status`` and ``state_changes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Any, Literal

from kern.domain.events import StepCompleted
from kern.domain.values import same_json
from kern.projections.replay_diff import RecordedRun

StepOutcome = Literal["equal", "changed", "only_a", "only_b"]


@dataclass(frozen=True)
class FieldDiff:
    """One field that differs: its value in run a and in run b."""

    field: str
    a: Any
    b: Any

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {"field": self.field, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class StepComparison:
    """One step of the two runs; the index of a side without the step is None."""

    name: str | None
    index_a: int | None
    index_b: int | None
    outcome: StepOutcome
    changes: list[FieldDiff]
    path_a: str | None = None
    """Where the step sits in run a's tree ("2", "2.1.3"); None without it."""
    path_b: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {
            "name": self.name,
            "index_a": self.index_a,
            "index_b": self.index_b,
            "outcome": self.outcome,
            "changes": [change.to_json() for change in self.changes],
            "path_a": self.path_a,
            "path_b": self.path_b,
        }


@dataclass(frozen=True)
class RunDiff:
    """Run ``run_a`` (of ``session_a``) against run ``run_b`` (of ``session_b``)."""

    session_a: str
    run_a: str
    session_b: str
    run_b: str
    run: list[FieldDiff]
    """The run's own fields that differ (input, output, status, state_changes)."""
    steps: list[StepComparison]

    @property
    def changed(self) -> bool:
        """True when a run field or any step differs."""
        return bool(self.run) or any(step.outcome != "equal" for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields, ``changed``, and each comparison's dict."""
        return {
            "session_a": self.session_a,
            "run_a": self.run_a,
            "session_b": self.session_b,
            "run_b": self.run_b,
            "changed": self.changed,
            "run": [change.to_json() for change in self.run],
            "steps": [step.to_json() for step in self.steps],
        }


def diff_runs(a: RecordedRun, b: RecordedRun) -> RunDiff:
    """Compare two recorded runs (see the module doc)."""
    return RunDiff(
        session_a=a.started.session_id,
        run_a=a.started.run_id,
        session_b=b.started.session_id,
        run_b=b.started.run_id,
        run=_changes(_run_fields(a), _run_fields(b)),
        steps=_steps(a.steps, b.steps),
    )


def _run_fields(run: RecordedRun) -> dict[str, Any]:
    changes = run.completed.state_changes if run.completed else None
    return {
        "input": run.started.input.value,
        "output": run.output,
        "status": run.status.value,
        "state_changes": changes.model_dump(mode="json") if changes else None,
    }


def _step_fields(step: StepCompleted) -> dict[str, Any]:
    failed = not step.success and step.error is not None
    return {
        "input": step.input.value,
        "output": step.error if failed else step.content.value,
        "success": step.success,
        "state_changes": step.state_changes.model_dump(mode="json"),
    }


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[FieldDiff]:
    return [FieldDiff(name, a[name], b[name]) for name in a if not same_json(a[name], b[name])]


def _steps(a: Sequence[StepCompleted], b: Sequence[StepCompleted]) -> list[StepComparison]:
    matcher = SequenceMatcher(
        a=[s.step_name for s in a], b=[s.step_name for s in b], autojunk=False
    )
    compared: list[StepComparison] = []
    for _, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        for left, right in zip_longest(a[a_start:a_end], b[b_start:b_end]):
            compared.append(_step(left, right))
    return compared


def _step(a: StepCompleted | None, b: StepCompleted | None) -> StepComparison:
    if a is None:
        assert b is not None
        return StepComparison(b.step_name, None, b.step_index, "only_b", [], None, b.step_path)
    if b is None:
        return StepComparison(a.step_name, a.step_index, None, "only_a", [], a.step_path, None)
    changes = _changes(_step_fields(a), _step_fields(b))
    name = b.step_name if a.step_name == b.step_name else f"{a.step_name} / {b.step_name}"
    outcome: StepOutcome = "changed" if changes else "equal"
    return StepComparison(
        name, a.step_index, b.step_index, outcome, changes, a.step_path, b.step_path
    )
