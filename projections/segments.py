"""Read-model segments: a session's finished runs, kept so a read need not fold them again.

Reading a long session back means decoding and folding every event it ever
recorded. A *segment* holds what that fold produced for a stretch of the
log: the runs that started in it (every one of them finished), and the
session's own fields (state, name, ...) as they stood at its last version.
A reader restores the segments in order and folds only the events after
the last one.

Segments are derived data, never the record: a store keeps them beside the
log, verify never reads them, and a reader uses them only while they match
the log (the hash of the event at a segment's last version, and each
segment's link to the one before). A missing, stale or unreadable segment
is dropped and folded again from the events.

The body is JSON of the read model's own fields. A step's input that equals
the run's input or an earlier step's output (what a step usually receives)
is stored as a reference to it, and restored as the same object.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from pydantic import ValidationError

from kern.domain.values import ExecutorRun, RunStatus, same_json
from kern.projections.fold import SessionFold
from kern.projections.runs import StepOutput, WorkflowMetrics, WorkflowRunOutput
from kern.projections.session import WorkflowSession

SEGMENT_RUNS = 500
"""Finished runs a reader folds from events before it keeps them as a segment."""

_SESSION_FIELDS = tuple(
    f.name for f in fields(WorkflowSession) if f.name not in ("session_id", "runs", "version")
)
_RUN_FIELDS = tuple(f.name for f in fields(WorkflowRunOutput))
_STEP_FIELDS = tuple(f.name for f in fields(StepOutput))
FOLD_VERSION = 2
"""Bump it when the fold (:mod:`kern.projections.fold`) gives another read model
for the same events: segments written by the earlier fold are then folded again."""

_HEADER = {"fold": FOLD_VERSION, "run": list(_RUN_FIELDS), "step": list(_STEP_FIELDS)}
"""The fold's version and the field order of the rows below: a segment written
with others (by a Kern whose read model had other fields, or folded otherwise)
is not read, but folded again."""

# Where each value sits in a run's or a step's row (the dataclass field order).
_RUN_INPUT, _RUN_CONTENT, _RUN_STATUS = (
    _RUN_FIELDS.index(n) for n in ("input", "content", "status")
)
_RUN_STEPS, _RUN_EXECUTOR_RUNS, _RUN_METRICS = (
    _RUN_FIELDS.index(n) for n in ("step_results", "step_executor_runs", "metrics")
)
_STEP_INPUT, _STEP_CONTENT, _STEP_EXECUTOR_RUN, _STEP_STEPS = (
    _STEP_FIELDS.index(n) for n in ("input", "content", "executor_run", "steps")
)

_SHORTEST_REFERENCED = 64
"""Strings shorter than this are stored as they are, not as references."""


@dataclass(frozen=True)
class ReadSegment:
    """One stored segment: the runs started after ``previous`` up to ``version``."""

    session_id: str
    version: int
    """The last version the segment covers."""
    hash: str
    """The hash of the event at ``version``: the segment is used only while the log has it."""
    previous: int
    """Where the segment before it ends (0 for the first)."""
    previous_hash: str
    """The hash at ``previous`` ("" for the first)."""
    runs_before: int
    """How many runs the earlier segments hold."""
    runs: int
    """How many runs this one holds."""
    body: bytes


def encode_segment(
    session: WorkflowSession, *, hash: str, previous: ReadSegment | None
) -> ReadSegment:
    """The segment of ``session`` at its version: its runs after ``previous``'s
    (every one finished) and its fields as they are."""
    runs_before = previous.runs_before + previous.runs if previous is not None else 0
    runs = (session.runs or [])[runs_before:]
    body = {
        "session": {name: getattr(session, name) for name in _SESSION_FIELDS},
        "fields": _HEADER,
        "runs": [_encode_run(run) for run in runs],
    }
    return ReadSegment(
        session_id=session.session_id,
        version=session.version,
        hash=hash,
        previous=previous.version if previous is not None else 0,
        previous_hash=previous.hash if previous is not None else "",
        runs_before=runs_before,
        runs=len(runs),
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
    )


def linked(segments: Sequence[ReadSegment]) -> list[ReadSegment]:
    """The longest run of ``segments`` (in version order) that starts at the first
    and where each continues the one before it."""
    chain: list[ReadSegment] = []
    for segment in segments:
        before = chain[-1] if chain else None
        expected = (
            (before.version, before.hash, before.runs_before + before.runs)
            if before is not None
            else (0, "", 0)
        )
        if (segment.previous, segment.previous_hash, segment.runs_before) != expected:
            break
        chain.append(segment)
    return chain


def restore(segments: Sequence[ReadSegment]) -> tuple[SessionFold, list[ReadSegment]]:
    """A fold standing at the last of ``segments`` it could read, and those segments.

    ``segments`` must be :func:`linked`. A segment whose body cannot be read
    ends the restore there (the caller folds the rest from events)."""
    runs: list[WorkflowRunOutput] = []
    used: list[ReadSegment] = []
    head: dict[str, Any] | None = None
    for segment in segments:
        try:
            data = json.loads(segment.body)
            if data["fields"] != _HEADER:
                break
            decoded = [_decode_run(item) for item in data["runs"]]
            fields_at = dict(data["session"])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, ValidationError):
            break
        if len(decoded) != segment.runs:
            break
        runs += decoded
        head = fields_at
        used.append(segment)
    fold = SessionFold()
    if head is None or not used:
        return fold, []
    session = WorkflowSession(session_id=used[-1].session_id, runs=runs, **head)
    session.version = used[-1].version
    fold.resume(session)
    return fold, used


def _encode_run(run: WorkflowRunOutput) -> list[Any]:
    """The run as a row of its fields, then where its content is among its
    earlier values (or null). Each step is a row too; the executor runs are
    the steps' (not repeated) and the metrics only the duration."""
    row: list[Any] = [getattr(run, name) for name in _RUN_FIELDS]
    values = [run.input]
    row[_RUN_STATUS] = RunStatus(run.status).value
    row[_RUN_STEPS] = [_encode_step(step, values) for step in run.step_results]
    row[_RUN_EXECUTOR_RUNS] = None
    row[_RUN_METRICS] = run.metrics.duration if run.metrics is not None else None
    found = _index_of(run.content, values)
    if found is not None:
        row[_RUN_CONTENT] = None
    row.append(found)
    return row


def _encode_step(step: StepOutput, values: list[Any]) -> list[Any]:
    """The step as a row of its fields, then where its input is among ``values``
    (the run's input and the outputs of the steps before it): the index of an
    equal one, or for a dict input, ``[key, index]`` for each of its values that
    equals one (that key's value left null in the row), or null."""
    row: list[Any] = [getattr(step, name) for name in _STEP_FIELDS]
    if step.executor_run is not None:
        row[_STEP_EXECUTOR_RUN] = step.executor_run.model_dump(mode="json")

    found: int | list[list[Any]] | None = _index_of(step.input, values)
    if found is not None:
        row[_STEP_INPUT] = None
    elif isinstance(step.input, dict):
        refs = {
            key: index
            for key, value in step.input.items()
            if (index := _index_of(value, values)) is not None
        }
        if refs:
            row[_STEP_INPUT] = {k: None if k in refs else v for k, v in step.input.items()}
            found = [[key, index] for key, index in refs.items()]
    if step.steps:  # a primitive's inner steps (recorded after its input, before it)
        row[_STEP_STEPS] = [_encode_step(inner, values) for inner in step.steps]
    row.append(found)
    values.append(step.content)
    return row


def _index_of(value: Any, values: list[Any]) -> int | None:
    """Where ``value`` is in ``values``, if it is large enough to be worth a reference."""
    if isinstance(value, str) and len(value) < _SHORTEST_REFERENCED:
        return None
    if not isinstance(value, str | dict | list) or not value:
        return None
    return next((i for i, known in enumerate(values) if _same(known, value)), None)


def _same(a: Any, b: Any) -> bool:
    if type(a) is str or type(b) is str:
        return type(a) is type(b) and bool(a == b)
    return same_json(a, b)


def _decode_run(row: list[Any]) -> WorkflowRunOutput:
    content_of = row.pop()
    values = [row[_RUN_INPUT]]
    steps = [_decode_step(item, values) for item in row[_RUN_STEPS]]
    duration = row[_RUN_METRICS]
    if content_of is not None:
        row[_RUN_CONTENT] = values[content_of]
    row[_RUN_STATUS] = RunStatus(row[_RUN_STATUS])
    row[_RUN_STEPS] = steps
    row[_RUN_EXECUTOR_RUNS] = [s.executor_run for s in _flat(steps) if s.executor_run is not None]
    row[_RUN_METRICS] = WorkflowMetrics.of(duration, steps) if duration is not None else None
    return WorkflowRunOutput(*row)


def _decode_step(row: list[Any], values: list[Any]) -> StepOutput:
    refs = row.pop()
    if type(refs) is int:
        row[_STEP_INPUT] = values[refs]
    elif refs:
        value = row[_STEP_INPUT]
        for key, index in refs:
            value[key] = values[index]
    executor_run = row[_STEP_EXECUTOR_RUN]
    if executor_run is not None:
        row[_STEP_EXECUTOR_RUN] = ExecutorRun.model_validate(executor_run)
    if row[_STEP_STEPS]:
        row[_STEP_STEPS] = [_decode_step(inner, values) for inner in row[_STEP_STEPS]]
    values.append(row[_STEP_CONTENT])
    return StepOutput(*row)


def _flat(steps: list[StepOutput]) -> list[StepOutput]:
    """Every step in the order they were recorded: a primitive's after its inner ones."""
    return [found for step in steps for found in [*_flat(step.steps or []), step]]
