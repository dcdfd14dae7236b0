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
from kern.domain.errors import UnstorableValueError
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

    def find(self, obj: Any) -> tuple[Token, Any] | None:
        """(token, stored JSON) of a recorded value ``obj`` is exactly, or None."""
        if isinstance(obj, str):
            if len(obj) < MIN_REFERENCED_BYTES:
                return None
            for token, known in reversed(self._recorded.items()):
                if known.raw is obj or (type(known.stored) is str and known.stored == obj):
                    return token, known.stored
            return None
        if obj is None or isinstance(obj, bool | int | float):
            return None
        try:
            encoded = encode_json(to_json_value(obj))
        except UnstorableValueError:
            return None
        if len(encoded) < MIN_REFERENCED_BYTES:
            return None
        for token, known in reversed(self._recorded.items()):
            if not isinstance(known.stored, str) and known.bytes() == encoded:
                return token, known.stored
        return None

    def value(self, path: str, obj: Any, *, what: str) -> tuple[StoredValue, SymbolicRefs]:
        """``obj`` as recorded at ``path`` (``content``), by reference when it can be."""
        found = self.find(obj)
        if found is None:
            return StoredValue.of(obj, what=what), {}
        token, stored = found
        return StoredValue(type=type_tag(obj), value=stored), {path: [token]}

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
                if key == "workflow_history_context" and history is not None:
                    refs[f"input/{key}"] = [history]
                    value[key] = part
                    continue
                found = self.find(part) if key != "workflow_history_context" else None
                if found is not None:
                    refs[f"input/{key}"] = [found[0]]
                    value[key] = found[1]
                else:
                    value[key] = to_json_value(part, what=what, nesting=MAX_NESTING)
            return StoredValue(type="dict", value=value), refs
        if history is not None and isinstance(received, str):
            context = received_context(received)
            found = self.find(received[len(context) :]) if context is not None else None
            if found is not None:
                return StoredValue(type="str", value=received), {"input": [history, found[0]]}
        found = self.find(received)
        if found is not None:
            return StoredValue(type=type_tag(received), value=found[1]), {"input": [found[0]]}
        # A function step's dict wraps the run input (itself MAX_NESTING deep): one more level.
        return StoredValue.of(received, what=what, nesting=MAX_NESTING + 1), {}

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
