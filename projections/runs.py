"""Read models of runs and steps: what ``run()`` returns and what a session lists.

These are plain dataclasses with the seed's field names. Values (``input``,
``content``) are the JSON values Kern recorded, so a pydantic model input
reads back as its dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kern.domain.errors import UnstorableValueError
from kern.domain.values import ExecutorMessage, ExecutorRun, RunStatus, to_json_value


def json_ready(value: Any) -> Any:
    """``value``'s JSON form (a pydantic model becomes its dict); as is if it has none."""
    try:
        return to_json_value(value)
    except UnstorableValueError:
        return value


@dataclass
class StepOutput:
    """What one step produced; also what a step function may return."""

    content: Any = None
    step_name: str | None = None
    step_index: int | None = None
    step_type: str | None = None
    executor_type: str | None = None
    executor_name: str | None = None
    executor_id: str | None = None
    input: Any = None
    success: bool = True
    error: str | None = None
    stop: bool = False
    metrics: dict[str, Any] | None = None
    executor_run: ExecutorRun | None = None
    error_type: str | None = None
    """The class of the exception the step raised (``module.QualName``)."""
    traceback: str | None = None
    """Its traceback, as text."""
    steps: list[StepOutput] | None = None
    """The results of the steps a step primitive ran (Agno's ``StepOutput.steps``):
    a Loop's every iteration in turn, a Condition's or Router's chosen steps, a
    Parallel's in the order given; None for a plain step."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (``steps`` only when there are some, as
        Agno's ``to_dict``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "steps"}
        data["content"] = json_ready(self.content)
        data["input"] = json_ready(self.input)
        data["executor_run"] = (
            self.executor_run.model_dump(mode="json") if self.executor_run else None
        )
        if self.steps:
            data["steps"] = [step.to_dict() for step in self.steps]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepOutput:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("executor_run") is not None:
            values["executor_run"] = ExecutorRun.model_validate(values["executor_run"])
        if values.get("steps"):
            values["steps"] = [cls.from_dict(step) for step in values["steps"]]
        return cls(**values)


@dataclass
class RunMetrics:
    """What a step's metrics hold (Agno's RunMetrics): its duration, in seconds."""

    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMetrics:
        """The inverse of :meth:`to_dict`; unknown keys (Agno's token counts) are ignored."""
        return cls(duration=data.get("duration"))


@dataclass
class StepMetrics:
    """One step's entry in a run's metrics, as Agno's: ``metrics.steps[name].metrics.duration``.

    ``entry["duration"]`` (the dict Kern gave before) still reads its metrics.
    """

    step_name: str
    executor_type: str | None = None
    executor_name: str | None = None
    metrics: RunMetrics | None = None

    def __getitem__(self, key: str) -> Any:
        if self.metrics is None or key not in self.metrics.to_dict():
            raise KeyError(key)
        return getattr(self.metrics, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (Agno's keys)."""
        return {
            "step_name": self.step_name,
            "executor_type": self.executor_type,
            "executor_name": self.executor_name,
            "metrics": self.metrics.to_dict() if self.metrics else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> StepMetrics:
        """The inverse of :meth:`to_dict`; also reads the ``{"duration": ...}`` dict
        a step's entry was before (``name``: its key in ``steps``)."""
        if "metrics" not in data and "step_name" not in data:
            return cls(step_name=name or "", metrics=RunMetrics.from_dict(data))
        metrics = data.get("metrics")
        return cls(
            step_name=data.get("step_name") or name or "",
            executor_type=data.get("executor_type"),
            executor_name=data.get("executor_name"),
            metrics=RunMetrics.from_dict(metrics) if metrics is not None else None,
        )


@dataclass
class WorkflowMetrics:
    """Timing of a run: its duration and each step's, in seconds (Agno's shape:
    ``metrics.steps[name].metrics.duration``)."""

    duration: float | None = None
    steps: dict[str, StepMetrics] = field(default_factory=dict)

    @classmethod
    def of(cls, duration: float, step_results: Sequence[StepOutput]) -> WorkflowMetrics:
        """A run's metrics: its duration and each step's metrics, keyed by step name."""
        steps = {}
        for step in step_results:
            name = step.step_name or str(step.step_index)
            steps[name] = StepMetrics(
                step_name=name,
                executor_type=step.executor_type,
                executor_name=step.executor_name,
                metrics=RunMetrics.from_dict(step.metrics or {}),
            )
        return cls(duration=duration, steps=steps)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "duration": self.duration,
            "steps": {name: step.to_dict() for name, step in self.steps.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowMetrics:
        """The inverse of :meth:`to_dict` (Agno's, and what Kern wrote before:
        a step's entry as a plain ``{"duration": ...}``)."""
        steps = data.get("steps") or {}
        return cls(
            duration=data.get("duration"),
            steps={name: StepMetrics.from_dict(entry, name) for name, entry in steps.items()},
        )


@dataclass
class WorkflowRunOutput:
    """One run of a workflow in a session, as recorded."""

    run_id: str | None = None
    session_id: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    user_id: str | None = None
    input: Any = None
    content: Any = None
    status: RunStatus = RunStatus.pending
    error: str | None = None
    step_results: list[StepOutput] = field(default_factory=list)
    step_executor_runs: list[ExecutorRun] = field(default_factory=list)
    metrics: WorkflowMetrics | None = None
    session_state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    created_at: int | None = None
    error_type: str | None = None
    """The class of the exception that ended the run as ERROR (``module.QualName``)."""
    traceback: str | None = None
    """Its traceback, as text."""

    @property
    def is_cancelled(self) -> bool:
        """True when the run was cancelled."""
        return self.status == RunStatus.cancelled

    def has_completed(self) -> bool:
        """True when the run ended, successfully or with an error."""
        return self.status in (RunStatus.completed, RunStatus.error)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["input"] = json_ready(self.input)
        data["content"] = json_ready(self.content)
        data["status"] = RunStatus(self.status).value
        data["step_results"] = [step.to_dict() for step in self.step_results]
        data["step_executor_runs"] = [r.model_dump(mode="json") for r in self.step_executor_runs]
        data["metrics"] = self.metrics.to_dict() if self.metrics else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowRunOutput:
        """Build a run from :meth:`to_dict` output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("status") is not None:
            values["status"] = RunStatus(values["status"])
        values["step_results"] = [StepOutput.from_dict(s) for s in values.get("step_results") or []]
        values["step_executor_runs"] = [
            ExecutorRun.model_validate(r) for r in values.get("step_executor_runs") or []
        ]
        if values.get("metrics") is not None:
            values["metrics"] = WorkflowMetrics.from_dict(values["metrics"])
        return cls(**values)


@dataclass
class WorkflowChatInteraction:
    """One input/output pair of a session's chat history."""

    input: Any
    output: Any


Message = ExecutorMessage
