"""``export_otel``: a session's runs as OpenTelemetry spans, scoped like ``export``,
the same from every store and on every call."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.encoding import encode_json
from kern.errors import InvalidInputError, SessionNotFoundError
from kern.projections.otel import trace_id
from kern.workflow import Workflow
from tests.contract.audit.conftest import run_twice
from tests.unit.projections.test_otel import attributes, parsed


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Session s1 of alice with two runs of echo + shout."""
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1", user_id="alice")
    workflow.run(input="again", session_id="s1", user_id="alice")
    return workflow


def spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        span
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


@dataclass
class Reply:
    content: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class Writer:
    """An agent whose answer reports the tokens it used, as Agno's messages do."""

    name = "writer"

    def run(self, message: str) -> Reply:
        return Reply(
            content=f"draft of {message}",
            messages=[
                {"role": "user", "content": message},
                {
                    "role": "assistant",
                    "content": f"draft of {message}",
                    "metrics": {"input_tokens": 21, "output_tokens": 8},
                },
            ],
        )


def test_each_run_is_a_trace_of_its_steps_and_their_executors(
    db: KernDb, workflow: Workflow
) -> None:
    found = spans(db.export_otel("s1"))
    runs = [str(run.run_id) for run in db.require_session("s1").runs or []]
    assert [s["name"] for s in found] == 2 * [
        "invoke_workflow Test Pipeline",
        "step echo",
        "execute_tool echo",
        "step shout",
        "execute_tool shout",
    ]
    assert [s["traceId"] for s in found] == [trace_id("s1", r) for r in runs for _ in range(5)]
    assert {attributes(s)["gen_ai.conversation.id"] for s in found} == {"s1"}
    assert all(s["status"] == {"code": 1} for s in found)


def test_a_second_export_and_an_export_from_another_store_give_the_same_bytes(
    db: KernDb, other_db: KernDb, workflow: Workflow
) -> None:
    first = encode_json(db.export_otel("s1", include_content=True))
    assert encode_json(db.export_otel("s1", include_content=True)) == first
    other_db.import_lines(db.export("s1", keys=True))
    assert encode_json(other_db.export_otel("s1", include_content=True)) == first


def test_content_is_exported_only_when_asked_for(db: KernDb, workflow: Workflow) -> None:
    assert "hello" not in json.dumps(db.export_otel("s1"))
    with_content = json.dumps(db.export_otel("s1", include_content=True))
    assert "echo: hello" in with_content and "ECHO: AGAIN" in with_content


def test_an_agent_step_carries_the_token_usage_it_recorded(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    make_workflow(steps=[Writer()]).run(input="hello", session_id="s1")
    agent = next(s for s in spans(db.export_otel("s1")) if s["name"] == "invoke_agent writer")
    assert attributes(agent)["gen_ai.usage.input_tokens"] == 21
    assert attributes(agent)["gen_ai.usage.output_tokens"] == 8


def test_the_export_parses_as_an_opentelemetry_request(db: KernDb, workflow: Workflow) -> None:
    request = parsed(db.export_otel("s1", include_content=True))
    (resource,) = request.resource_spans
    (scope,) = resource.scope_spans
    assert [span.name for span in scope.spans][:2] == ["invoke_workflow Test Pipeline", "step echo"]
    assert all(len(span.trace_id) == 16 and len(span.span_id) == 8 for span in scope.spans)


# -- scoping ------------------------------------------------------------------------


def test_another_users_session_is_not_found(db: KernDb, workflow: Workflow) -> None:
    with pytest.raises(SessionNotFoundError, match="'s1'"):
        db.export_otel("s1", user_id="bob")
    with pytest.raises(SessionNotFoundError, match="'nope'"):
        db.export_otel("nope")
    assert len(spans(db.export_otel("s1", user_id="alice"))) == 10


def test_without_an_id_every_session_the_user_may_read(
    db: KernDb, workflow: Workflow, make_workflow: Callable[..., Workflow]
) -> None:
    run_twice(make_workflow(), "b1")
    make_workflow().run(input="mine", session_id="b2", user_id="bob")
    make_workflow().run(input="more", session_id="b3", user_id="bob")
    bobs = spans(db.export_otel(user_id="bob"))
    assert [attributes(s)["gen_ai.conversation.id"] for s in bobs] == 5 * ["b2"] + 5 * ["b3"]
    everyone = spans(db.export_otel())
    assert {attributes(s)["gen_ai.conversation.id"] for s in everyone} == {"s1", "b1", "b2", "b3"}


def test_a_store_without_sessions_exports_an_empty_request(db: KernDb) -> None:
    assert db.export_otel() == {"resourceSpans": []}


def test_include_content_must_be_a_bool(db: KernDb, workflow: Workflow) -> None:
    with pytest.raises(InvalidInputError, match="include_content"):
        db.export_otel("s1", include_content="yes")  # type: ignore[arg-type]
