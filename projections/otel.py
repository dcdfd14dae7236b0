"""A session's runs as OpenTelemetry spans: the OTLP/JSON ``ExportTraceServiceRequest``.

The spans follow the OpenTelemetry GenAI semantic conventions (in development):

- a run is an ``invoke_workflow`` span, the root of its own trace;
- each step is a ``step <name>`` span under it, with a
  ``kern.step.attempt_failed`` span event for each attempt that raised and was
  recorded (StepAttemptFailed: its number and ``error.type``; with content, the
  message and traceback too) and ``kern.step.failed_attempts`` counting them;
- each step's executor is a span under the step: ``invoke_agent <name>`` for an
  agent or a team, with the token usage its recorded messages report, and
  ``execute_tool <name>`` for a function (a ``...`` placeholder step has none).

Every span carries ``gen_ai.conversation.id``, the session id. The ids are
derived from the log, never drawn at random: a run's trace id is the first 16
bytes of a SHA-256 over (session id, run id), and a span id the first 8 bytes
of a SHA-256 over (session id, the version of the event it comes from, the
span's kind). Exporting the same log again gives byte-identical output.

Times: a run starts at its RunStarted and ends at its RunCompleted (a run
still open ends at its last recorded event); a step ends when it was recorded
and started its recorded duration before. An executor span has its step's times.

Content stays out unless asked for (``include_content``): inputs, outputs,
error messages and tracebacks (which quote what the code was handling) and the
session's owner. The class of an error (``error.type``) is not content and is
always there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kern.domain.encoding import encode_json
from kern.domain.events import (
    RunCompleted,
    RunEvent,
    RunStarted,
    SessionEvent,
    StepAttemptFailed,
    StepCompleted,
)
from kern.domain.values import ExecutorRun, RunStatus, StoredValue, utc

SCOPE_NAME = "kern"
INTERNAL = 1
"""The OTLP span kind every span has: SPAN_KIND_INTERNAL."""
STATUS_OK, STATUS_ERROR = 1, 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AGENT_LIKE = ("agent", "team")
_PRIMITIVES = ("Steps", "Parallel", "Condition", "Loop", "Router")
"""The step_type of a step primitive's own event: it has no executor span."""


@dataclass(frozen=True)
class _Run:
    """One run's events, in log order."""

    started: RunStarted
    steps: list[StepCompleted]
    completed: RunCompleted | None
    attempts: dict[int, list[StepAttemptFailed]]
    """The failed attempts of each step, by the step's index."""


def export_request(
    sessions: Iterable[tuple[str, Sequence[SessionEvent]]],
    *,
    include_content: bool = False,
    kern_version: str,
) -> dict[str, Any]:
    """The OTLP/JSON ExportTraceServiceRequest for each (session id, its events):
    one resource (``service.name`` ``kern``), one scope, every run's spans in log order."""
    spans = [
        span
        for session_id, events in sessions
        for span in session_spans(session_id, events, include_content=include_content)
    ]
    if not spans:
        return {"resourceSpans": []}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes({"service.name": SCOPE_NAME})},
                "scopeSpans": [
                    {"scope": {"name": SCOPE_NAME, "version": kern_version}, "spans": spans}
                ],
            }
        ]
    }


def session_spans(
    session_id: str, events: Sequence[SessionEvent], *, include_content: bool = False
) -> list[dict[str, Any]]:
    """The spans of every run of one session, each run followed by its steps."""
    spans: list[dict[str, Any]] = []
    for run in _runs(events):
        spans.extend(_SpanMaker(session_id, run, include_content).spans())
    return spans


def trace_id(session_id: str, run_id: str) -> str:
    """The trace id of a run: 32 lowercase hex digits, the same on every export."""
    return _digest(["trace", session_id, run_id], 16)


def span_id(session_id: str, version: int, kind: str) -> str:
    """The id of the ``kind`` span ("run", "step", "executor") made from the event at
    ``version``: 16 lowercase hex digits, the same on every export."""
    return _digest(["span", session_id, version, kind], 8)


def _digest(parts: list[Any], size: int) -> str:
    return hashlib.sha256(encode_json(parts)).digest()[:size].hex()


def _runs(events: Sequence[SessionEvent]) -> list[_Run]:
    runs: dict[str, _Run] = {}
    for event in events:
        if isinstance(event, RunStarted):
            runs[event.run_id] = _Run(event, [], None, {})
        elif isinstance(event, RunEvent) and event.run_id in runs:
            run = runs[event.run_id]
            if isinstance(event, StepCompleted):
                run.steps.append(event)
            elif isinstance(event, StepAttemptFailed):
                run.attempts.setdefault(event.step_index, []).append(event)
            elif isinstance(event, RunCompleted):
                runs[event.run_id] = _Run(run.started, run.steps, event, run.attempts)
    return list(runs.values())


class _SpanMaker:
    """The spans of one run."""

    def __init__(self, session_id: str, run: _Run, include_content: bool) -> None:
        self.session_id = session_id
        self.run = run
        self.content = include_content
        self.trace = trace_id(session_id, run.started.run_id)

    def spans(self) -> list[dict[str, Any]]:
        spans = [self._run_span()]
        # A step inside a step primitive is a child of the primitive's span.
        versions = {step.step_path: step.version for step in self.run.steps}
        for step in self.run.steps:
            parent = versions.get(step.step_path.rpartition(".")[0])
            spans.append(self._step_span(step, parent))
            executor = self._executor_span(step) if step.step_type not in _PRIMITIVES else None
            if executor is not None:
                spans.append(executor)
        return spans

    def _run_span(self) -> dict[str, Any]:
        started, completed = self.run.started, self.run.completed
        name = started.workflow_name
        last = completed or (self.run.steps[-1] if self.run.steps else started)
        status = completed.status if completed else RunStatus.running
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": name,
            "kern.workflow.id": started.workflow_id,
            "kern.run.status": status.value,
        }
        if self.content:
            attributes["user.id"] = started.user_id
            attributes["gen_ai.input.messages"] = _messages("user", started.input)
            if completed is not None and status == RunStatus.completed:
                attributes["gen_ai.output.messages"] = _messages("assistant", completed.content)
        span = self._span(
            span_id(self.session_id, started.version, "run"),
            None,
            f"invoke_workflow {name}" if name else "invoke_workflow",
            _nanos(started.timestamp),
            _nanos(last.timestamp),
            attributes,
        )
        if completed is not None:
            self._set_outcome(span, status == RunStatus.completed, completed, status)
        return span

    def _step_span(self, step: StepCompleted, parent: int | None) -> dict[str, Any]:
        name = step.step_name or str(step.step_index)
        attributes: dict[str, Any] = {
            "kern.step.index": step.step_index,
            "kern.step.name": step.step_name,
            "kern.step.type": step.step_type,
        }
        attempts = self.run.attempts.get(step.step_index, [])
        if attempts:
            attributes["kern.step.failed_attempts"] = len(attempts)
        if not step.is_top_level:
            attributes["kern.step.path"] = step.step_path
        if self.content:
            attributes["kern.step.input"] = _json_text(step.input)
            if step.success:
                attributes["kern.step.output"] = _json_text(step.content)
        owner = (
            span_id(self.session_id, parent, "step")
            if parent is not None
            else span_id(self.session_id, self.run.started.version, "run")
        )
        span = self._span(
            span_id(self.session_id, step.version, "step"),
            owner,
            f"step {name}",
            *_step_times(step),
            attributes,
        )
        if attempts:
            span["events"] = [self._attempt_event(attempt) for attempt in attempts]
        self._set_outcome(span, step.success, step, None)
        return span

    def _attempt_event(self, attempt: StepAttemptFailed) -> dict[str, Any]:
        """The span event of one failed attempt (message and traceback are content)."""
        details: dict[str, Any] = {
            "kern.step.attempt": attempt.attempt,
            "error.type": attempt.error_type or "_OTHER",
        }
        if self.content:
            details["exception.message"] = attempt.error
            details["exception.stacktrace"] = attempt.traceback
        return {
            "timeUnixNano": str(_nanos(attempt.timestamp)),
            "name": "kern.step.attempt_failed",
            "attributes": _attributes(details),
        }

    def _executor_span(self, step: StepCompleted) -> dict[str, Any] | None:
        if step.step_type == "placeholder":
            return None
        name = step.executor_name or step.step_name
        if step.executor_type in _AGENT_LIKE:
            operation = "invoke_agent"
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": operation,
                "gen_ai.agent.name": name,
                "gen_ai.agent.id": step.executor_id,
                **_usage(step.executor_run),
            }
            if self.content:
                attributes["gen_ai.input.messages"] = _messages("user", step.input)
                if step.success:
                    attributes["gen_ai.output.messages"] = _messages("assistant", step.content)
        else:
            operation = "execute_tool"
            attributes = {
                "gen_ai.operation.name": operation,
                "gen_ai.tool.name": name,
                "gen_ai.tool.type": "function",
            }
            if self.content:
                attributes["gen_ai.tool.call.arguments"] = _json_text(step.input)
                if step.success:
                    attributes["gen_ai.tool.call.result"] = _json_text(step.content)
        span = self._span(
            span_id(self.session_id, step.version, "executor"),
            span_id(self.session_id, step.version, "step"),
            f"{operation} {name}" if name else operation,
            *_step_times(step),
            attributes,
        )
        self._set_outcome(span, step.success, step, None)
        return span

    def _span(
        self,
        span: str,
        parent: str | None,
        name: str,
        start: int,
        end: int,
        attributes: dict[str, Any],
    ) -> dict[str, Any]:
        common = {"gen_ai.conversation.id": self.session_id, "kern.run.id": self.run.started.run_id}
        made: dict[str, Any] = {"traceId": self.trace, "spanId": span}
        if parent is not None:
            made["parentSpanId"] = parent
        made.update(
            name=name,
            kind=INTERNAL,
            startTimeUnixNano=str(start),
            endTimeUnixNano=str(end),
            attributes=_attributes({**common, **attributes}),
        )
        return made

    def _set_outcome(
        self,
        span: dict[str, Any],
        success: bool,
        event: StepCompleted | RunCompleted,
        status: RunStatus | None,
    ) -> None:
        """OK, or ERROR with ``error.type`` (and, with content, the message and an
        ``exception`` span event holding the traceback)."""
        if success:
            span["status"] = {"code": STATUS_OK}
            return
        kind = event.error_type or ("cancelled" if status == RunStatus.cancelled else "_OTHER")
        span["attributes"].extend(_attributes({"error.type": kind}))
        span["status"] = {"code": STATUS_ERROR}
        if not self.content:
            return
        if event.error:
            span["status"]["message"] = event.error
        details = {
            "exception.type": kind,
            "exception.message": event.error,
            "exception.stacktrace": event.traceback,
        }
        span.setdefault("events", []).append(
            {
                "timeUnixNano": span["endTimeUnixNano"],
                "name": "exception",
                "attributes": _attributes(details),
            }
        )


def _step_times(step: StepCompleted) -> tuple[int, int]:
    end = _nanos(step.timestamp)
    return end - round(step.metrics.duration * 1e9), end


def _nanos(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch, exact to the microsecond a datetime holds."""
    delta = utc(moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _usage(executor_run: ExecutorRun | None) -> dict[str, int]:
    """The tokens an agent's recorded messages report (``metrics.input_tokens`` and
    ``output_tokens`` on each message, as Agno records them), summed; messages
    carried over from history are not counted again."""
    totals: dict[str, int] = {}
    if executor_run is None:
        return totals
    for message in executor_run.messages:
        metrics = (message.model_extra or {}).get("metrics")
        if message.from_history or not isinstance(metrics, dict):
            continue
        for kind in ("input_tokens", "output_tokens"):
            count = metrics.get(kind)
            if type(count) is int:
                key = f"gen_ai.usage.{kind}"
                totals[key] = totals.get(key, 0) + count
    return totals


def _json_text(value: StoredValue) -> str:
    """A recorded value as compact JSON text."""
    return encode_json(value.value).decode("utf-8")


def _messages(role: str, value: StoredValue) -> str:
    """A recorded value as one GenAI message of ``role`` with one text part, as
    JSON text: a string as it is, anything else as its JSON."""
    text = value.value if isinstance(value.value, str) else _json_text(value)
    message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if role == "assistant":
        message["finish_reason"] = "stop"
    return encode_json([message]).decode("utf-8")


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """OTLP/JSON key-values, in the given order; None values are left out."""
    return [{"key": key, "value": _any_value(v)} for key, v in values.items() if v is not None]


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}
