"""Value objects: stored values with their type tags, and state changes.

A stored value must read back as the same JSON value it was recorded as (so
equal-but-different JSON such as ``1`` and ``true`` must stay apart), and a
value with no JSON form is refused with an error naming its type.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from kern.domain.encoding import encode_json
from kern.domain.errors import InvalidInputError, UnstorableValueError
from kern.domain.values import (
    TERMINAL_STATUSES,
    ExecutorMessage,
    RunStatus,
    StateChanges,
    StoredValue,
)


class Topic(BaseModel):
    name: str
    tags: list[str] = []


@dataclass
class Point:
    x: int
    y: float


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON documents: 1, 1.0 and true are three different values."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
STATES = st.dictionaries(st.text(max_size=4), JSON, max_size=5)


# -- stored values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "tag", "value"),
    [
        ("hello", "str", "hello"),
        ("", "str", ""),
        (42, "int", 42),
        (2**70, "int", 2**70),
        (1.5, "float", 1.5),
        (True, "bool", True),
        (False, "bool", False),
        (None, "null", None),
        ({"a": 1, "b": [None]}, "dict", {"a": 1, "b": [None]}),
        ({1: "one"}, "dict", {"1": "one"}),
        ([1, "two", 3.0], "list", [1, "two", 3.0]),
        ((1, "two"), "tuple", [1, "two"]),
        (Topic(name="AI", tags=["q4"]), f"{__name__}.Topic", {"name": "AI", "tags": ["q4"]}),
        (Point(x=1, y=2.5), f"{__name__}.Point", {"x": 1, "y": 2.5}),
        (datetime(2024, 11, 19, 14, 30), "datetime.datetime", "2024-11-19T14:30:00"),
        (datetime(2024, 11, 19, 14, 30, tzinfo=UTC), "datetime.datetime", "2024-11-19T14:30:00Z"),
        ({"when": Topic(name="x")}, "dict", {"when": {"name": "x", "tags": []}}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_records_type_tag_and_json_value(obj: object, tag: str, value: object) -> None:
    stored = StoredValue.of(obj)
    assert stored.type == tag
    assert same_json(stored.value, value)


def test_keeps_bool_apart_from_int() -> None:
    assert StoredValue.of(True).model_dump(mode="json") == {"type": "bool", "value": True}
    assert StoredValue.of(1).model_dump(mode="json") == {"type": "int", "value": 1}


def test_stored_value_is_frozen() -> None:
    stored = StoredValue.of("x")
    with pytest.raises(ValueError, match="frozen"):
        stored.type = "int"  # type: ignore[misc]


def _open_file(tmp_path: Path) -> Any:
    path = tmp_path / "notes.txt"
    path.write_text("line one\nline two\n")
    return path.open()


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (_open_file, "_io.TextIOWrapper"),
        (lambda _: object(), "object"),
        (lambda _: threading.Lock(), "_thread.lock"),
        (lambda _: {object()}, "set"),
        (lambda _: float("nan"), "float"),
        (lambda _: float("inf"), "float"),
        (lambda _: {"score": float("nan")}, "dict"),
        (lambda _: (x for x in range(3)), "generator"),
        (lambda _: "\ud800", "str"),
    ],
    ids=[
        "file",
        "object",
        "lock",
        "set-of-object",
        "nan",
        "inf",
        "nan-in-dict",
        "generator",
        "lone-surrogate",
    ],
)
def test_refuses_values_without_json_form(make: Any, type_name: str, tmp_path: Path) -> None:
    obj = make(tmp_path)
    with pytest.raises(UnstorableValueError) as caught:
        StoredValue.of(obj, what="run input")
    if hasattr(obj, "close"):
        obj.close()
    assert caught.value.type_name == type_name
    assert f"cannot store run input of type {type_name}" in str(caught.value)
    assert isinstance(caught.value, InvalidInputError | TypeError)


def test_refuses_an_open_file_without_reading_it(tmp_path: Path) -> None:
    """Refusing a file must not consume it: the caller can still read every line."""
    with _open_file(tmp_path) as handle:
        with pytest.raises(UnstorableValueError):
            StoredValue.of({"attachment": handle})
        assert handle.read() == "line one\nline two\n"


def test_refuses_a_file_inside_a_dataclass(tmp_path: Path) -> None:
    with _open_file(tmp_path) as handle, pytest.raises(UnstorableValueError):
        StoredValue.of([Point(x=1, y=2.0), {"f": handle}])


def test_refuses_a_value_that_contains_itself() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(UnstorableValueError, match="of type list"):
        StoredValue.of(loop)


@settings(max_examples=300)
@given(JSON)
def test_any_json_value_reads_back_as_itself(value: Any) -> None:
    stored = StoredValue.of(value)
    assert stored.value == value
    assert same_json(stored.value, value)
    assert json.loads(encode_json(stored.value)) == value
    reloaded = StoredValue.model_validate(json.loads(encode_json(stored.model_dump(mode="json"))))
    assert reloaded == stored


# -- state changes ---------------------------------------------------------------------


@settings(max_examples=300)
@given(before=STATES, after=STATES)
def test_changes_between_two_states_turn_one_into_the_other(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    changes = StateChanges.between(before, after)
    assert same_json(changes.apply_to(before), after)


@given(state=STATES)
def test_no_changes_between_a_state_and_itself(state: dict[str, Any]) -> None:
    changes = StateChanges.between(state, state)
    assert not changes
    assert changes.apply_to(state) == state


@settings(max_examples=200)
@given(before=STATES, after=STATES)
def test_changes_survive_storage(before: dict[str, Any], after: dict[str, Any]) -> None:
    changes = StateChanges.between(before, after)
    reloaded = StateChanges.model_validate(json.loads(encode_json(changes.model_dump())))
    assert same_json(reloaded.apply_to(before), after)


@given(base=STATES, first=STATES, second=STATES)
def test_changes_to_disjoint_keys_commute(
    base: dict[str, Any], first: dict[str, Any], second: dict[str, Any]
) -> None:
    """Two runs that touch different keys merge the same in either order."""
    mine = StateChanges.between(base, {**base, **first})
    theirs_keys = set(second) - set(first)
    theirs = StateChanges.between(base, {**base, **{k: second[k] for k in theirs_keys}})
    assert same_json(theirs.apply_to(mine.apply_to(base)), mine.apply_to(theirs.apply_to(base)))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"a": 1}, {"a": True}),
        ({"a": 0}, {"a": False}),
        ({"a": 1}, {"a": 1.0}),
        ({"a": [1]}, {"a": [True]}),
        ({"a": {"b": 0.0}}, {"a": {"b": 0}}),
    ],
)
def test_records_a_change_of_json_type(before: dict[str, Any], after: dict[str, Any]) -> None:
    """1 -> true is a change even though Python says 1 == True."""
    changes = StateChanges.between(before, after)
    assert changes.set == after
    assert same_json(changes.apply_to(before), after)


def test_lists_set_and_removed_keys() -> None:
    changes = StateChanges.between(
        {"keep": 1, "bump": 1, "drop": 1}, {"keep": 1, "bump": 2, "new": 3}
    )
    assert changes.set == {"bump": 2, "new": 3}
    assert changes.removed == ["drop"]
    assert changes


def test_apply_to_leaves_the_given_state_alone() -> None:
    state = {"a": 1, "b": 2}
    assert StateChanges(set={"a": 5}, removed=["b"]).apply_to(state) == {"a": 5}
    assert state == {"a": 1, "b": 2}


def test_removing_a_missing_key_is_harmless() -> None:
    assert StateChanges(removed=["ghost"]).apply_to({"a": 1}) == {"a": 1}


# -- small values ------------------------------------------------------------------------


def test_run_status_values_are_agnos_strings() -> None:
    assert [s.value for s in RunStatus] == [
        "PENDING",
        "RUNNING",
        "COMPLETED",
        "PAUSED",
        "CANCELLED",
        "ERROR",
    ]
    assert RunStatus("COMPLETED") == "COMPLETED"
    assert {RunStatus.completed, RunStatus.error, RunStatus.cancelled} == TERMINAL_STATUSES


def test_executor_message_keeps_extra_fields() -> None:
    message = ExecutorMessage(role="tool", content="42", tool_call_id="call-1")
    assert message.model_dump()["tool_call_id"] == "call-1"
    assert message.from_history is False
