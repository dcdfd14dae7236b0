"""``kern export --format otel``: the runs as one OTLP/JSON document, content only
with ``--include-content``, the same bytes on every export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kern.projections.otel import trace_id
from tests.contract.cli.conftest import Target
from tests.unit.projections.test_otel import attributes, parsed


def spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    (resource,) = document["resourceSpans"]
    (scope,) = resource["scopeSpans"]
    found: list[dict[str, Any]] = scope["spans"]
    return found


def test_export_otel_prints_the_runs_of_a_session_as_spans(seeded: Target) -> None:
    result = seeded.kern("export", "research", "--format", "otel")
    assert result.status == 0
    found = spans(result.json())
    assert [s["name"] for s in found] == 2 * [
        "invoke_workflow Research Pipeline",
        "step research",
        "execute_tool research",
        "step summarize",
        "invoke_agent Summarizer",
        "step tally",
        "execute_tool tally",
    ]
    assert {s["traceId"] for s in found} == {
        trace_id("research", "run-1"),
        trace_id("research", "run-2"),
    }
    assert len(parsed(result.json()).resource_spans[0].scope_spans[0].spans) == 14


def test_export_otel_leaves_content_out_unless_asked(seeded: Target) -> None:
    runs = seeded.db.require_session("research").runs
    assert runs
    topic = runs[0].input
    assert isinstance(topic, str)
    assert topic not in seeded.kern("export", "research", "--format", "otel").out
    with_content = seeded.kern("export", "research", "--format", "otel", "--include-content")
    assert topic in with_content.out
    run = spans(with_content.json())[0]
    assert topic in attributes(run)["gen_ai.input.messages"]


def test_export_otel_to_a_file_gives_the_same_bytes_twice(seeded: Target, tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    table = seeded.kern("export", "--format", "otel", "-o", str(first))
    assert table.out == f"Exported 21 span(s) of 3 run(s) to {first}\n"
    summary = seeded.kern("export", "--format", "otel", "-o", str(second), "--json").json()
    assert summary == {"file": str(second), "runs": 3, "spans": 21}
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text()) == seeded.db.export_otel()


def test_export_otel_acts_for_the_user(seeded: Target) -> None:
    bobs = spans(seeded.kern("export", "--format", "otel", "--user", "bob").json())
    assert {attributes(s)["gen_ai.conversation.id"] for s in bobs} == {"notes"}
    refused = seeded.kern("export", "research", "--format", "otel", "--user", "bob")
    assert refused.status == 1
    assert refused.err == "kern: error: session 'research' not found\n"


def test_include_content_without_otel_is_a_usage_error(seeded: Target) -> None:
    result = seeded.kern("export", "research", "--include-content")
    assert result.status == 2
    assert result.err == "kern: error: --include-content goes with --format otel\n"
    assert result.out == ""


def test_an_unknown_format_is_refused(seeded: Target) -> None:
    with pytest.raises(SystemExit) as exited:
        seeded.kern("export", "--format", "csv")
    assert exited.value.code == 2
    assert "invalid choice: 'csv'" in seeded.capsys.readouterr().err
