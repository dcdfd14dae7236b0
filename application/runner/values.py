"""What a run has recorded so far, so that a later event refers to it instead of copying it.

The run's input and each step's output are recorded once. When a step
receives one of them again (its ``input``, ``previous_step_content``), or a
step or the run returns one as its output, the event stores a reference
(``@<version>``, see :mod:`kern.domain.refs`) and holds the same value in
memory. A value is referenced only when it is exactly what was recorded:
the same object for text, the same canonical JSON bytes for anything else
(a step that changed a dict in place gets its own copy stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kern.application.runner.steps import StepInput
from kern.domain.encoding import encode_json
from kern.domain.refs import PROVENANCE, history_of, value_at
from kern.domain.values import MAX_NESTING, StoredValue, to_json_value, type_tag
from kern.projections.history import HistoryView

MIN_REFERENCED_BYTES = 64
"""Values shorter than this are stored again: a reference would not be smaller."""

Token = int
"""Names a recorded value within the run: RUN_INPUT or a step's position."""

RUN_INPUT: Token = -1

SymbolicRefs = dict[str, list[Token | str]]
"""Path -> parts, where a part is a Token or an already-final part string."""


@dataclass
class _Recorded:
    raw: Any
    stored: Any
    encoded: bytes | None = None

    def bytes(self) -> bytes:
        if self.encoded is None:
            self.encoded = encode_json(self.stored)
        return self.encoded


class RecordedValues:
    """The run's recorded values and the versions that hold them."""

    def __init__(self) -> None:
        self._recorded: dict[Token, _Recorded] = {}
        self._versions: dict[Token, int] = {}

    def add(self, token: Token, raw: Any, stored: Any, *, version: int | None = None) -> None:
        """``raw`` was recorded as ``stored`` (at ``version``, once known)."""
        self._recorded[token] = _Recorded(raw, stored)
        if version is not None:
            self._versions[token] = version

    def stored_at(self, token: Token, version: int) -> None:
        """The value ``token`` names was appended at ``version``."""
        self._versions[token] = version

    def recorded(
        self, obj: Any, *, what: str, nesting: int = MAX_NESTING
    ) -> tuple[Any, Token | None]:
        """``obj``'s JSON form, converted once, and the token of the recorded value it
        is exactly (None if none): then the form is that value's, shared, not a copy.
        UnstorableValueError, naming ``what``, when ``obj`` cannot be stored."""
        if type(obj) is str:
            if len(obj) >= MIN_REFERENCED_BYTES:
                for token, known in reversed(self._recorded.items()):
                    if known.raw is obj or (type(known.stored) is str and known.stored == obj):
                        return known.stored, token
            return to_json_value(obj, what=what, nesting=nesting), None  # refuses surrogates
        value = to_json_value(obj, what=what, nesting=nesting)
        if value is None or isinstance(value, bool | int | float | str):
            return value, None
        encoded = encode_json(value)
        if len(encoded) >= MIN_REFERENCED_BYTES:
            for token, known in reversed(self._recorded.items()):
                if not isinstance(known.stored, str) and known.bytes() == encoded:
                    return known.stored, token
        return value, None

    def value(self, path: str, obj: Any, *, what: str) -> tuple[StoredValue, SymbolicRefs]:
        """``obj`` as recorded at ``path`` (``content``), by reference when it can be."""
        value, token = self.recorded(obj, what=what)
        return StoredValue(type=type_tag(obj), value=value), {} if token is None else {
            path: [token]
        }

    def received(
        self, received: Any, *, function_step: bool, history: str | None, what: str
    ) -> tuple[StoredValue, SymbolicRefs]:
        """What a step received, as its StepCompleted records it.

        A function step receives Kern's dict (``input``, ``previous_step_content``,
        ``workflow_history_context``): each key may be a reference. An agent
        receives one message: the history context (if any) then the run input
        or previous output."""
        refs: SymbolicRefs = {}
        if function_step and type(received) is dict:
            value: dict[str, Any] = {}
            for key, part in received.items():
                if key == "workflow_history_context":
                    if history is not None:
                        refs[f"input/{key}"] = [history]
                    value[key] = to_json_value(part, what=what)
                    continue
                value[key], token = self.recorded(part, what=what)
                if token is not None:
                    refs[f"input/{key}"] = [token]
            return StoredValue(type="dict", value=value), refs
        if history is not None and type(received) is str:
            context = received_context(received)
            if context is not None:
                _, token = self.recorded(received[len(context) :], what=what)
                if token is not None:
                    return StoredValue(type="str", value=received), {"input": [history, token]}
        # A function step's dict wraps the run input (itself MAX_NESTING deep): one more level.
        value, token = self.recorded(received, what=what, nesting=MAX_NESTING + 1)
        stored = StoredValue(type=type_tag(received), value=value)
        return stored, {} if token is None else {"input": [token]}

    def versioned(self, refs: SymbolicRefs) -> dict[str, list[str]]:
        """``refs`` as stored: each token becomes the version that holds its value,
        and the event's provenance is the RunStarted's (every event of a run
        shares it)."""
        versions = self._versions
        stored = {
            path: [part if isinstance(part, str) else value_at(versions[part]) for part in parts]
            for path, parts in refs.items()
        }
        stored[PROVENANCE] = [value_at(versions[RUN_INPUT])]
        return stored


_CONTEXT_CLOSE = "</workflow_history_context>\n"


def received_context(message: str) -> str | None:
    """The history context an agent's message starts with, if any."""
    end = message.find(_CONTEXT_CLOSE)
    return message[: end + len(_CONTEXT_CLOSE)] if end != -1 else None


def history_part(step_input: StepInput, context: str, window: int | None) -> str | None:
    """The reference to the history context ``context`` a step receives, when it
    came from the session's own runs (None when a caller set the session)."""
    source = step_input._history_source()
    if not isinstance(source, HistoryView):
        return None
    spans = source.run_spans(window)
    return history_of(context, spans) if spans else None
