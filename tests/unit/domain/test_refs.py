"""The reference forms an event may store, and the ones a reader refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kern.domain.errors import UnreadableEventError
from kern.domain.events import RunStarted, SessionRenamed, StepCompleted
from kern.domain.refs import (
    HistoryOf,
    ValueAt,
    blank,
    history_of,
    parse_part,
    parse_path,
    text_digest,
)
from kern.domain.values import StoredValue
from kern.projections.expand import expand


def test_parses_every_form_kern_writes() -> None:
    assert parse_part("@7", before=9) == ValueAt(7)
    part = history_of("<ctx>", [(2, 6), (7, 11)])
    assert parse_part(part, before=12) == HistoryOf(text_digest("<ctx>"), ((2, 6), (7, 11)))
    assert parse_path("input") == ("input", None)
    assert parse_path("input/previous_step_content") == ("input", "previous_step_content")
    assert parse_path("provenance") == ("provenance", None)


@pytest.mark.parametrize(
    ("part", "before", "problem"),
    [
        ("@9", 9, "earlier event"),
        ("@0", 9, "bad reference"),
        ("@-1", 9, "bad reference"),
        ("7", 9, "bad reference"),
        ("history:abc:1-2", 9, "bad reference"),
        (f"history:{'0' * 32}:", 9, "names no runs"),
        (f"history:{'0' * 32}:5-3", 9, "not earlier"),
        (f"history:{'0' * 32}:2-9", 9, "not earlier"),
    ],
)
def test_refuses_a_part_kern_never_writes(part: str, before: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_part(part, before)


@pytest.mark.parametrize(
    "refs",
    [
        {"output": ["@1"]},
        {"input/a.b": ["@1"]},
        {"input": []},
        {"provenance": ["@1", "@2"]},
        {"provenance": [f"history:{'0' * 32}:1-2"]},
    ],
)
def test_a_reader_refuses_paths_and_shapes_kern_never_writes(refs: dict[str, list[str]]) -> None:
    event = StepCompleted(
        session_id="s",
        version=5,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        run_id="r",
        step_index=0,
        input=StoredValue(type="str", value=None),
        content=StoredValue(type="str", value=None),
        refs=refs,
    )
    earlier = RunStarted(
        session_id="s",
        version=1,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        run_id="r",
        input=StoredValue(type="str", value="x"),
    )
    with pytest.raises(UnreadableEventError, match="version 5 of session 's'"):
        expand(event, lambda version: earlier)


def test_blank_stores_null_at_each_path_and_drops_a_shared_provenance() -> None:
    fields = {
        "provenance": {"kern_version": "1"},
        "input": {"type": "dict", "value": {"input": "long", "previous_step_content": "x"}},
        "content": {"type": "str", "value": "long"},
    }
    blank(fields, {"input/input": ["@2"], "content": ["@3"], "provenance": ["@2"]})
    assert fields == {
        "input": {"type": "dict", "value": {"input": None, "previous_step_content": "x"}},
        "content": {"type": "str", "value": None},
    }


def test_a_reference_to_an_event_that_holds_no_value_is_unreadable() -> None:
    """``@<version>`` names a RunStarted's input or a step's or run's content; a
    rename (or any other event) holds no such value."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    renamed = SessionRenamed(session_id="s", version=1, timestamp=when, session_name="n")
    step = StepCompleted(
        session_id="s",
        version=2,
        timestamp=when,
        run_id="r",
        step_index=0,
        input=StoredValue(type="str", value=None),
        content=StoredValue(type="str", value="done"),
        refs={"input": ["@1"]},
    )
    with pytest.raises(UnreadableEventError, match="SessionRenamed, which holds no value"):
        expand(step, lambda version: renamed)
