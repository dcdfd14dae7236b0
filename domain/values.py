"""Value objects recorded inside events: run status, stored values, state changes.

Inputs and outputs are stored as JSON plus a type tag (:class:`StoredValue`), so
whatever a caller passes in (a pydantic model, a dict, a list, a string, a
number) reads back as the same JSON value, and the tag says what it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from kern.domain.errors import UnstorableValueError

_SLUG_GAPS = re.compile(r"[^a-z0-9]+")

MAX_NESTING = 100
"""How deeply a stored value may nest (lists and objects inside each other).

A value is written inside an event, a few levels below the top of its JSON,
and every store reads events back through pydantic, whose JSON parser stops
at 200 levels; the standard library's json stops near the interpreter's
recursion limit. A hundred leaves that margin, so whatever Kern writes reads
back in any process; deeper values are refused at write time."""


class RunStatus(StrEnum):
    """Where a run stands. The values are the strings Agno uses."""

    pending = "PENDING"
    running = "RUNNING"
    completed = "COMPLETED"
    paused = "PAUSED"
    cancelled = "CANCELLED"
    error = "ERROR"


TERMINAL_STATUSES = frozenset({RunStatus.completed, RunStatus.error, RunStatus.cancelled})


class StoredValue(BaseModel):
    """A value as recorded: its JSON form and a tag naming its original type.

    ``type`` is ``null``, ``str``, ``int``, ``float``, ``bool``, ``dict`` or
    ``list`` for plain JSON, and ``module.QualName`` of the original class for
    anything converted to JSON on the way in (pydantic models, dataclasses,
    tuples, datetimes, ...).
    """

    model_config = ConfigDict(frozen=True)

    type: str
    value: JsonValue

    @classmethod
    def of(cls, obj: object, *, what: str = "value", nesting: int = MAX_NESTING) -> StoredValue:
        """Record ``obj``, or raise UnstorableValueError naming its type."""
        return cls(type=type_tag(obj), value=to_json_value(obj, what=what, nesting=nesting))


_PLAIN_TAGS: dict[type, str] = {
    type(None): "null",
    str: "str",
    bool: "bool",
    int: "int",
    float: "float",
    dict: "dict",
    list: "list",
}


def type_tag(obj: object) -> str:
    """The tag stored next to a value: a JSON kind or the class's dotted name."""
    cls = type(obj)
    plain = _PLAIN_TAGS.get(cls)
    if plain is not None:
        return plain
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def to_json_value(obj: object, *, what: str = "value", nesting: int = MAX_NESTING) -> JsonValue:
    """The JSON form of ``obj``; UnstorableValueError when it has none or nests
    deeper than ``nesting`` (MAX_NESTING, plus the levels of Kern's own wrapper
    when ``obj`` is one).

    pydantic's serializer gives the JSON form of models, dataclasses, tuples,
    sets, dates, UUIDs and the like; anything else (an open file, a socket, a
    lock) is refused, and so are NaN and infinities, which JSON cannot hold.
    """
    if type(obj) is dict and all(type(k) is str for k in obj):
        if all(_is_scalar(v) for v in obj.values()) and all(_is_scalar(k) for k in obj):
            return dict(obj)  # the common case, a flat dict, without the round trip
    elif _is_scalar(obj):
        return obj  # type: ignore[return-value]
    try:
        _check_shape(obj, nesting)
        value = pydantic_core.to_jsonable_python(obj)
        # Round trip through text: proves the value is plain JSON and gives
        # dict keys as strings, exactly as they will read back from a store.
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")  # lone surrogates have no UTF-8 form
    except (
        pydantic_core.PydanticSerializationError,
        TypeError,
        ValueError,
        RecursionError,
    ) as exc:
        name = type_tag(obj)
        reason = _reason(exc)
        if not isinstance(exc, _ShapeError):
            reason = f"it has no JSON form ({reason})"
        raise UnstorableValueError(
            f"cannot store {what} of type {name}: {reason}", type_name=name
        ) from exc
    result: JsonValue = json.loads(text)
    depth = nesting_of(result)
    if depth > nesting:  # a custom serializer nested deeper than its object
        name = type_tag(obj)
        raise UnstorableValueError(
            f"cannot store {what} of type {name}: {_too_deep(depth, nesting)}", type_name=name
        )
    return result


def _is_scalar(obj: object) -> bool:
    """True for a str, int, bool, None or finite float that JSON holds as it is."""
    kind = type(obj)
    if kind is str:
        try:
            obj.encode("utf-8")  # type: ignore[attr-defined]
        except UnicodeEncodeError:  # a lone surrogate: let the full path name it
            return False
        return True
    if kind is float:
        return math.isfinite(obj)  # type: ignore[arg-type]
    return kind is int or kind is bool or obj is None


def nesting_of(value: object) -> int:
    """How many lists and objects enclose the innermost part of a JSON value
    (0 for a scalar, 1 for ``[1]`` or ``{"a": 1}``); walked without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class _ShapeError(ValueError):
    """A value with a JSON form that Kern still cannot store (see _check_shape)."""


def _too_deep(depth: int, limit: int) -> str:
    return (
        f"it is nested {depth} levels deep, more than the {limit} "
        "(MAX_NESTING) a stored value may have"
    )


def _check_shape(obj: object, limit: int) -> None:
    """TypeError or _ShapeError if ``obj`` cannot be stored as it is shaped; walked
    without recursion.

    Refused: an iterator anywhere inside (an open file, a generator: pydantic
    would store what it yields, reading the file or draining the generator the
    caller still holds); nesting deeper than ``limit``; and a mapping whose
    keys collide once JSON makes them strings (``{1: "a", "1": "b"}``), which
    a store would silently merge into one key.
    """
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Iterator):
            raise TypeError(f"{type_tag(item)} is an iterator; storing it would consume it")
        children = _children(item)
        if children is None or id(item) in seen:
            continue
        if depth + 1 > limit:
            raise _ShapeError(_too_deep(depth + 1, limit))
        if isinstance(item, Mapping):
            _refuse_colliding_keys(item)
        seen.add(id(item))
        stack.extend((child, depth + 1) for child in children)


def _children(obj: object) -> list[object] | None:
    """What ``obj`` holds, when it is stored as a JSON list or object; else None."""
    if isinstance(obj, Mapping):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    if isinstance(obj, BaseModel):
        return list(obj.__dict__.values())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    return None


def _refuse_colliding_keys(mapping: Mapping[Any, Any]) -> None:
    if all(type(key) is str for key in mapping):
        return
    keys: dict[str, object] = {}
    for key in mapping:
        # The key exactly as it reads back: pydantic makes it a string.
        text = key if type(key) is str else str(next(iter(_jsonable({key: None}))))
        if text in keys:
            raise _ShapeError(
                f"keys {keys[text]!r} and {key!r} are both {text!r} in JSON; "
                "storing them would keep only one"
            )
        keys[text] = key


def _jsonable(obj: object) -> Any:
    return pydantic_core.to_jsonable_python(obj)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be kept in a text column of every store, or None.

    PostgreSQL text cannot hold NUL, and a lone surrogate has no UTF-8 form;
    inside stored JSON values both are fine (escaped, or refused as unstorable).
    """
    if "\x00" in text:
        return "contains a NUL character, which PostgreSQL text cannot hold"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate, which has no UTF-8 form"
    return None


def storable_text(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud800``), so
    every store can keep it; any other text is returned as it is."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class StateChanges(BaseModel):
    """What changed in a session state: keys set (with new values) and keys removed."""

    model_config = ConfigDict(frozen=True)

    set: dict[str, JsonValue] = Field(default_factory=dict)
    removed: list[str] = Field(default_factory=list)

    @classmethod
    def between(cls, before: Mapping[str, Any], after: Mapping[str, Any]) -> StateChanges:
        """The changes that turn ``before`` into ``after`` (both JSON dicts)."""
        changed = {k: v for k, v in after.items() if k not in before or not same_json(before[k], v)}
        removed = [k for k in before if k not in after]
        return cls(set=changed, removed=removed)

    def __bool__(self) -> bool:
        return bool(self.set or self.removed)

    def apply_to(self, state: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
        """A new dict: ``state`` with these changes applied key by key."""
        result = {k: v for k, v in state.items() if k not in self.removed}
        result.update(self.set)
        return result


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: unlike ``==``, tells 1, 1.0 and true (and 0 and false) apart."""
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return bool(a == b)


class ExecutorMessage(BaseModel):
    """One message of an agent or team run recorded inside a step."""

    model_config = ConfigDict(frozen=True, extra="allow")

    role: str
    content: JsonValue = None
    from_history: bool = False


class ExecutorRun(BaseModel):
    """The run of an agent-like executor inside a step, with its messages."""

    model_config = ConfigDict(frozen=True)

    run_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    status: RunStatus = RunStatus.completed
    messages: list[ExecutorMessage] = Field(default_factory=list)


class Provenance(BaseModel):
    """Why and with what an event was recorded (who is the event's ``user_id``,
    and the causation of a run's events is their ``run_id``)."""

    model_config = ConfigDict(frozen=True)

    correlation_id: str | None = None
    kern_version: str | None = None
    workflow_fingerprint: str | None = None
    metadata: dict[str, JsonValue] | None = None
    imported_from: str | None = None
    """Set on events an import wrote from another system's records rather than
    recorded as they happened: ``agno:<sessions table>``. Left out of the stored
    payload when None (a default), so logs written before it read the same."""


class Metrics(BaseModel):
    """Timing of a step or a run, in seconds."""

    model_config = ConfigDict(frozen=True)

    duration: float = 0.0


AsOf = int | datetime | str
"""A point in a session: a version, a moment, or a run_id (the moment that run started)."""


def parse_as_of(text: str) -> AsOf:
    """An as-of written as text (a command-line argument, a query parameter): a
    whole number is a version, an ISO 8601 moment a datetime, anything else a
    run_id."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    if text[:4].isdigit() and "-" in text:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return text


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime, timespec: str = "auto") -> str:
    """``moment`` in ISO 8601 UTC with a ``Z`` suffix (``timespec`` as for isoformat;
    a naive datetime is taken as UTC already)."""
    return utc(moment).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def slug(name: str | None) -> str:
    """``name`` lower-cased with every run of other characters made one ``-``: an id
    for a workflow or an agent that has only a name ("" for no name)."""
    return _SLUG_GAPS.sub("-", (name or "").lower()).strip("-")
