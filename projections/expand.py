"""Putting back the values an event stores as references (see kern.domain.refs).

Stores call :func:`expand` on every event they read before anyone sees it,
so an event in memory always holds its full values, exactly as the runner
recorded them: ``get_step_view`` shows what the executor received, byte for
byte, and an event read back equals the one appended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kern.domain.errors import UnreadableEventError
from kern.domain.events import RunCompleted, RunStarted, SessionEvent, StepCompleted
from kern.domain.refs import (
    PROVENANCE,
    HistoryOf,
    ValueAt,
    joined,
    parse_part,
    parse_path,
    text_digest,
)
from kern.domain.values import StoredValue
from kern.projections.session import history_context, history_text

E = TypeVar("E", bound=SessionEvent)

Lookup = Callable[[int], SessionEvent]
"""The session's event at a version, its own references already put back."""


def has_refs(event: SessionEvent) -> bool:
    """Whether ``event`` stores any value as a reference."""
    return bool(getattr(event, "refs", None))


def expand(event: E, lookup: Lookup) -> E:
    """``event``, just decoded, with every referenced value put back (in place:
    nothing else holds a freshly decoded event); UnreadableEventError, naming
    the session and version, when a reference cannot be resolved."""
    refs: dict[str, list[str]] = getattr(event, "refs", {})
    if not refs:
        return event
    try:
        changed: dict[str, Any] = {}
        for path, parts in refs.items():
            name, key = parse_path(path)
            if name == PROVENANCE:
                (part,) = parts
                source = parse_part(part, event.version)
                if not isinstance(source, ValueAt):
                    raise ValueError("the provenance reference must name one earlier event")
                changed[name] = lookup(source.version).provenance
                continue
            value = joined([_resolve(parse_part(p, event.version), lookup) for p in parts], path)
            current = changed.get(name) or getattr(event, name)
            if key is None:
                changed[name] = _stored(current.type, value)
            elif isinstance(current.value, dict):
                changed[name] = _stored(current.type, {**current.value, key: value})
            else:
                raise ValueError(f"{path!r} names a key, and {name} is not a dict")
    except (ValueError, LookupError) as exc:
        raise UnreadableEventError(
            f"event at version {event.version} of session {event.session_id!r} cannot be "
            f"read: {exc}",
            session_id=event.session_id,
            version=event.version,
        ) from exc
    for name, value in changed.items():
        object.__setattr__(event, name, value)
    return event


def _stored(type_tag: str, value: Any) -> StoredValue:
    # The value comes from events already validated: no need to validate it again.
    return StoredValue.model_construct(type=type_tag, value=value)


def _resolve(part: ValueAt | HistoryOf, lookup: Lookup) -> Any:
    if isinstance(part, ValueAt):
        return recorded_value(lookup(part.version))
    pairs = []
    for started, ended in part.runs:
        start, end = lookup(started), lookup(ended)
        if not isinstance(start, RunStarted) or not isinstance(end, RunCompleted):
            raise ValueError(f"versions {started}-{ended} are not the start and end of a run")
        pairs.append((history_text(start.input.value), history_text(end.content.value)))
    text = history_context(pairs)
    if text is None or text_digest(text) != part.digest:
        raise ValueError(
            "the history context it names does not render to the recorded digest "
            f"{part.digest} (the log or Kern's history rendering changed)"
        )
    return text


def recorded_value(event: SessionEvent) -> Any:
    """The value a ``@version`` reference names: a RunStarted's input, a step's
    or run's content."""
    if isinstance(event, RunStarted):
        return event.input.value
    if isinstance(event, StepCompleted | RunCompleted):
        return event.content.value
    raise ValueError(f"version {event.version} is a {type(event).__name__}, which holds no value")


def expand_stream(events: Sequence[SessionEvent]) -> list[SessionEvent]:
    """A stream read from its first event, each event's references put back from
    the events before it (UnreadableEventError for one that names a version the
    stream does not hold before it)."""
    done: list[SessionEvent] = []

    def lookup(version: int) -> SessionEvent:
        if not 0 < version <= len(done) or done[version - 1].version != version:
            raise LookupError(f"version {version} is not in the log before it")
        return done[version - 1]

    for event in events:
        done.append(expand(event, lookup))
    return done
