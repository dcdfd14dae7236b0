"""A session's runs as OTLP/JSON spans: ids, parenting, times, status, content and usage."""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from kern.domain.encoding import encode_json
from kern.domain.events import (
    RunCompleted,
    RunStarted,
    SessionEvent,
    SessionStarted,
    StepCompleted,
)
from kern.domain.values import ExecutorMessage, ExecutorRun, Metrics, RunStatus, StoredValue
from kern.projections.otel import export_request, session_spans, span_id, trace_id

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
T0_NANOS = 1_772_366_400_250_000_000


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent_run(*tokens: tuple[int, int], history: bool = False) -> ExecutorRun:
    """An agent's recorded run whose assistant messages report these (input, output) tokens."""
    messages = [ExecutorMessage(role="user", content="question", from_history=history)]
    messages += [
        ExecutorMessage.model_validate(
            {
                "role": "assistant",
                "content": "answer",
                "metrics": {"input_tokens": given, "output_tokens": taken},
            }
        )
        for given, taken in tokens
    ]
    return ExecutorRun(agent_id="writer", messages=messages)


def session(*, fail: bool = False, executor_run: ExecutorRun | None = None) -> list[SessionEvent]:
    """s1: one run of pipeline: an agent step "draft" (0.5 s), a function step "shout"
    (0.25 s, or failing with a secret), then the run's end."""
    common: dict[str, Any] = {"session_id": "s1", "user_id": "alice"}
    shout_ok = StepCompleted(
        **common,
        version=4,
        timestamp=at(1),
        run_id="r1",
        step_index=1,
        step_name="shout",
        executor_name="shout",
        input=StoredValue.of({"input": "draft of hello"}),
        content=StoredValue.of("DRAFT OF HELLO"),
        metrics=Metrics(duration=0.25),
    )
    shout_failed = StepCompleted(
        **common,
        version=4,
        timestamp=at(1),
        run_id="r1",
        step_index=1,
        step_name="shout",
        executor_name="shout",
        input=StoredValue.of({"input": "draft of hello"}),
        content=StoredValue.of(None),
        success=False,
        error="card 4111 declined",
        error_type="payments.Declined",
        traceback="Traceback: card 4111",
        metrics=Metrics(duration=0.25),
    )
    return [
        SessionStarted(**common, version=1, timestamp=at(0), workflow_name="pipeline"),
        RunStarted(
            **common,
            version=2,
            timestamp=at(0),
            run_id="r1",
            input=StoredValue.of("hello"),
            workflow_id="pipeline",
            workflow_name="pipeline",
        ),
        StepCompleted(
            **common,
            version=3,
            timestamp=at(0.75),
            run_id="r1",
            step_index=0,
            step_name="draft",
            step_type="agent",
            executor_type="agent",
            executor_name="writer",
            executor_id="writer",
            input=StoredValue.of("hello"),
            content=StoredValue.of("draft of hello"),
            metrics=Metrics(duration=0.5),
            executor_run=executor_run,
        ),
        shout_failed if fail else shout_ok,
        RunCompleted(
            **common,
            version=5,
            timestamp=at(1.5),
            run_id="r1",
            status=RunStatus.error if fail else RunStatus.completed,
            content=StoredValue.of(None if fail else "DRAFT OF HELLO"),
            error="card 4111 declined" if fail else None,
            error_type="payments.Declined" if fail else None,
        ),
    ]


def spans_of(events: list[SessionEvent], **options: Any) -> dict[str, dict[str, Any]]:
    """The spans by name."""
    return {span["name"]: span for span in session_spans("s1", events, **options)}


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes as plain values (intValue as int)."""
    plain: dict[str, Any] = {}
    for item in span["attributes"]:
        ((kind, value),) = item["value"].items()
        plain[item["key"]] = int(value) if kind == "intValue" else value
    return plain


def parsed(document: dict[str, Any]) -> ExportTraceServiceRequest:
    """The document read by OpenTelemetry's own message classes.

    OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping
    reads bytes as base64: as an OTLP receiver does, the ids are turned back
    into bytes first, then everything else is parsed as it is (unknown fields
    and wrong types are refused)."""
    document = copy.deepcopy(document)
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.Parse(json.dumps(document), ExportTraceServiceRequest())


# -- the shape ---------------------------------------------------------------------


def test_a_run_is_an_invoke_workflow_span_with_a_span_per_step_and_executor() -> None:
    spans = session_spans("s1", session())
    assert [span["name"] for span in spans] == [
        "invoke_workflow pipeline",
        "step draft",
        "invoke_agent writer",
        "step shout",
        "execute_tool shout",
    ]
    run, _, agent, shout, tool = spans
    assert attributes(run)["gen_ai.operation.name"] == "invoke_workflow"
    assert attributes(run)["gen_ai.workflow.name"] == "pipeline"
    assert attributes(agent)["gen_ai.operation.name"] == "invoke_agent"
    assert attributes(agent)["gen_ai.agent.name"] == "writer"
    assert attributes(tool)["gen_ai.operation.name"] == "execute_tool"
    assert attributes(tool)["gen_ai.tool.name"] == "shout"
    assert attributes(shout)["kern.step.index"] == 1
    assert all(attributes(s)["gen_ai.conversation.id"] == "s1" for s in spans)
    assert all(s["kind"] == 1 for s in spans)


def test_steps_are_children_of_the_run_and_executors_of_their_step() -> None:
    run, draft, agent, shout, tool = session_spans("s1", session())
    assert "parentSpanId" not in run
    assert draft["parentSpanId"] == shout["parentSpanId"] == run["spanId"]
    assert agent["parentSpanId"] == draft["spanId"]
    assert tool["parentSpanId"] == shout["spanId"]
    assert {s["traceId"] for s in (run, draft, agent, shout, tool)} == {trace_id("s1", "r1")}
    assert len({s["spanId"] for s in (run, draft, agent, shout, tool)}) == 5


def test_ids_are_lowercase_hex_derived_from_the_session_run_and_version() -> None:
    run = session_spans("s1", session())[0]
    assert run["traceId"] == trace_id("s1", "r1")
    assert run["spanId"] == span_id("s1", 2, "run")
    assert re.fullmatch("[0-9a-f]{32}", run["traceId"])
    assert re.fullmatch("[0-9a-f]{16}", run["spanId"])
    assert trace_id("s1", "r1") != trace_id("s2", "r1") != trace_id("s1", "r2")


def test_exporting_the_same_events_twice_gives_the_same_bytes() -> None:
    first = export_request([("s1", session())], kern_version="1.0", include_content=True)
    second = export_request([("s1", session())], kern_version="1.0", include_content=True)
    assert encode_json(first) == encode_json(second)


def test_the_request_has_one_kern_resource_and_scope() -> None:
    document = export_request([("s1", session())], kern_version="1.2.3")
    (resource,) = document["resourceSpans"]
    assert attributes(resource["resource"]) == {"service.name": "kern"}
    (scope,) = resource["scopeSpans"]
    assert scope["scope"] == {"name": "kern", "version": "1.2.3"}
    assert len(scope["spans"]) == 5


def test_no_runs_give_an_empty_request() -> None:
    events = session()[:1]
    assert export_request([("s1", events)], kern_version="1") == {"resourceSpans": []}


# -- times -------------------------------------------------------------------------


def test_a_run_spans_its_start_to_its_end_in_unix_nanoseconds() -> None:
    run = spans_of(session())["invoke_workflow pipeline"]
    assert run["startTimeUnixNano"] == str(T0_NANOS)
    assert run["endTimeUnixNano"] == str(T0_NANOS + 1_500_000_000)


def test_a_step_ends_when_recorded_and_starts_its_duration_before() -> None:
    spans = spans_of(session())
    for name in ("step draft", "invoke_agent writer"):
        assert spans[name]["startTimeUnixNano"] == str(T0_NANOS + 250_000_000)
        assert spans[name]["endTimeUnixNano"] == str(T0_NANOS + 750_000_000)


def test_a_run_still_open_ends_at_its_last_step_without_a_status() -> None:
    run = spans_of(session()[:4])["invoke_workflow pipeline"]
    assert run["endTimeUnixNano"] == str(T0_NANOS + 1_000_000_000)
    assert "status" not in run
    assert attributes(run)["kern.run.status"] == "RUNNING"


# -- status and errors -----------------------------------------------------------------


def test_a_completed_run_and_its_steps_are_ok() -> None:
    assert all(span["status"] == {"code": 1} for span in session_spans("s1", session()))


def test_a_failed_step_and_run_are_errors_with_their_type_but_not_their_message() -> None:
    spans = spans_of(session(fail=True))
    for name in ("invoke_workflow pipeline", "step shout", "execute_tool shout"):
        assert spans[name]["status"] == {"code": 2}
        assert attributes(spans[name])["error.type"] == "payments.Declined"
        assert "events" not in spans[name]
    assert "4111" not in json.dumps(list(spans.values()))


def test_with_content_an_error_keeps_its_message_and_traceback() -> None:
    step = spans_of(session(fail=True), include_content=True)["step shout"]
    assert step["status"] == {"code": 2, "message": "card 4111 declined"}
    (event,) = step["events"]
    assert event["name"] == "exception"
    assert event["timeUnixNano"] == step["endTimeUnixNano"]
    assert attributes(event) == {
        "exception.type": "payments.Declined",
        "exception.message": "card 4111 declined",
        "exception.stacktrace": "Traceback: card 4111",
    }


def test_a_cancelled_run_is_an_error_of_type_cancelled() -> None:
    events = session()
    events[-1] = RunCompleted(
        session_id="s1", version=5, timestamp=at(2), run_id="r1", status=RunStatus.cancelled
    )
    run = spans_of(events)["invoke_workflow pipeline"]
    assert run["status"] == {"code": 2}
    assert attributes(run)["error.type"] == "cancelled"
    assert attributes(run)["kern.run.status"] == "CANCELLED"


# -- content -----------------------------------------------------------------------


def test_content_is_left_out_by_default() -> None:
    text = json.dumps(session_spans("s1", session()))
    for secret in ("hello", "draft of hello", "DRAFT OF HELLO", "alice"):
        assert secret not in text
    assert "gen_ai.input.messages" not in text and "gen_ai.tool.call" not in text


def test_with_content_inputs_and_outputs_are_attributes() -> None:
    spans = spans_of(session(), include_content=True)
    run = attributes(spans["invoke_workflow pipeline"])
    assert json.loads(run["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]}
    ]
    assert json.loads(run["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "DRAFT OF HELLO"}],
            "finish_reason": "stop",
        }
    ]
    assert run["user.id"] == "alice"
    tool = attributes(spans["execute_tool shout"])
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"input": "draft of hello"}
    assert json.loads(tool["gen_ai.tool.call.result"]) == "DRAFT OF HELLO"
    step = attributes(spans["step draft"])
    assert (step["kern.step.input"], step["kern.step.output"]) == (
        '"hello"',
        '"draft of hello"',
    )


# -- token usage -------------------------------------------------------------------


def test_an_agent_span_sums_the_tokens_its_messages_report() -> None:
    agent = spans_of(session(executor_run=agent_run((10, 4), (30, 6))))["invoke_agent writer"]
    assert attributes(agent)["gen_ai.usage.input_tokens"] == 40
    assert attributes(agent)["gen_ai.usage.output_tokens"] == 10


def test_an_agent_without_recorded_usage_has_no_usage_attributes() -> None:
    for run in (None, agent_run()):
        agent = spans_of(session(executor_run=run))["invoke_agent writer"]
        assert not any(key.startswith("gen_ai.usage") for key in attributes(agent))


def test_messages_from_history_are_not_counted_again() -> None:
    run = agent_run((10, 4))
    old = ExecutorMessage.model_validate(
        {"role": "assistant", "from_history": True, "metrics": {"input_tokens": 99}}
    )
    run = run.model_copy(update={"messages": [old, *run.messages]})
    agent = spans_of(session(executor_run=run))["invoke_agent writer"]
    assert attributes(agent)["gen_ai.usage.input_tokens"] == 10


# -- read by OpenTelemetry's own classes ---------------------------------------------------


def test_opentelemetry_proto_parses_the_request() -> None:
    events = session(fail=True, executor_run=agent_run((7, 3)))
    document = export_request([("s1", events)], kern_version="1.0", include_content=True)
    request = parsed(document)
    (resource,) = request.resource_spans
    assert resource.resource.attributes[0].value.string_value == "kern"
    (scope,) = resource.scope_spans
    assert scope.scope.name == "kern"
    run, draft, agent, shout, _ = scope.spans
    assert run.trace_id.hex() == trace_id("s1", "r1") and len(run.trace_id) == 16
    assert draft.parent_span_id == run.span_id and agent.parent_span_id == draft.span_id
    assert run.kind == Span.SPAN_KIND_INTERNAL
    assert run.start_time_unix_nano == T0_NANOS
    assert shout.status.code == Status.STATUS_CODE_ERROR
    assert shout.status.message == "card 4111 declined"
    assert draft.status.code == Status.STATUS_CODE_OK
    usage = {a.key: a.value.int_value for a in agent.attributes if a.key.startswith("gen_ai.u")}
    assert usage == {"gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3}
    assert shout.events[0].name == "exception"
