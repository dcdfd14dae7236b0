"""References: how an event names a value the log already holds instead of copying it.

A step's recorded input mostly repeats what the log already has: the run's
input, the previous step's output, and the ``<workflow_history_context>``
built from earlier runs. A RunCompleted's content is usually the last step's.
Such events carry ``refs``, a map from a *path* in the event to the *parts*
its value is made of, and store ``null`` at that path; a reader puts the
value back before anyone sees the event (see :mod:`kern.projections.expand`).

Paths:

- ``input`` / ``content``: the whole recorded value of that field;
- ``input/<key>``: one key of a recorded dict (the dict Kern hands a function
  step: ``input``, ``previous_step_content``, ``workflow_history_context``);
- ``provenance``: the event's provenance is that of the event the single
  ``@<version>`` part names (a run's events share their RunStarted's); the
  field is then left out of the payload.

Parts, each a string:

- ``@<version>``: the value recorded by the event at that earlier version of
  the same session: a RunStarted's ``input``, a StepCompleted's or
  RunCompleted's ``content``;
- ``history:<digest>:<started>-<ended>,...``: the history context rendered
  from those runs (the input of the RunStarted at ``started``, the content of
  the RunCompleted at ``ended``), whose SHA-256 begins with ``digest``. The
  digest makes the rendering part of what the hash chain covers: a reader
  whose rendering differs refuses the event instead of showing other text.

A path with one part holds that part's value, whatever its JSON type; with
several, the parts are strings and the value is their concatenation (an
agent's message: the history context, then the run input).

The event's own hash covers its ``refs``, and every referenced event is
earlier in the same chain, so the chain covers everything a reader is shown.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

Refs = dict[str, list[str]]
"""Path -> parts, as stored in an event's ``refs`` field."""

PROVENANCE = "provenance"

DIGEST_CHARS = 32
"""Hex characters of a history context's SHA-256 kept in its reference (128 bits)."""

_PATH = re.compile(r"(input|content)(?:/([A-Za-z_][A-Za-z0-9_]*))?|(provenance)")
_VERSION = re.compile(r"@([1-9][0-9]*)")
_HISTORY = re.compile(
    r"history:([0-9a-f]{" + str(DIGEST_CHARS) + r"}):((?:[1-9][0-9]*-[1-9][0-9]*,?)*)"
)


class ValueAt(NamedTuple):
    """The value recorded by the event at ``version``."""

    version: int


class HistoryOf(NamedTuple):
    """The history context of the runs spanning ``runs`` ((RunStarted, RunCompleted)
    versions, oldest first), whose SHA-256 hex starts with ``digest``."""

    digest: str
    runs: tuple[tuple[int, int], ...]


Part = ValueAt | HistoryOf


def value_at(version: int) -> str:
    """The part naming the value recorded at ``version``."""
    return f"@{version}"


def history_of(text: str, runs: Sequence[tuple[int, int]]) -> str:
    """The part naming the history context ``text`` rendered from ``runs``."""
    spans = ",".join(f"{started}-{ended}" for started, ended in runs)
    return f"history:{text_digest(text)}:{spans}"


def text_digest(text: str) -> str:
    """The digest a history part keeps of its rendered text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


@cache
def parse_path(path: str) -> tuple[str, str | None]:
    """(field, key or None) of a path; ValueError for one Kern never writes."""
    found = _PATH.fullmatch(path)
    if found is None:
        raise ValueError(f"bad reference path {path!r}")
    if found.group(3):
        return PROVENANCE, None
    return found.group(1), found.group(2)


def parse_part(part: str, before: int | None) -> Part:
    """The part ``part`` names; ValueError unless it is well formed and names
    only versions before ``before`` (the referring event's own version; None
    checks the form only)."""
    found = _VERSION.fullmatch(part) if part[:1] == "@" else None
    if found is not None:
        version = int(found.group(1))
        if before is not None and version >= before:
            raise ValueError(f"reference {part!r} does not point to an earlier event")
        return ValueAt(version)
    found = _HISTORY.fullmatch(part)
    if found is None:
        raise ValueError(f"bad reference {part!r}")
    runs: list[tuple[int, int]] = []
    for span in filter(None, found.group(2).split(",")):
        started, ended = (int(v) for v in span.split("-"))
        if not started < ended or (before is not None and ended >= before):
            raise ValueError(f"reference {part!r} names runs that are not earlier")
        runs.append((started, ended))
    if not runs:
        raise ValueError(f"reference {part!r} names no runs")
    return HistoryOf(found.group(1), tuple(runs))


def joined(parts: Sequence[Any], path: str) -> Any:
    """The value of a path made of ``parts`` (already resolved)."""
    if not parts:
        raise ValueError(f"reference path {path!r} has no parts")
    if len(parts) == 1:
        return parts[0]
    if not all(isinstance(p, str) for p in parts):
        raise ValueError(f"the parts of {path!r} are not all text")
    return "".join(parts)


def blank(fields: dict[str, Any], refs: Mapping[str, Sequence[str]]) -> None:
    """Put ``null`` at each referenced path of an event's dumped ``fields``
    (``{"type": ..., "value": ...}`` for input and content), in place: what is
    stored there is the reference, not the value."""
    for path in refs:
        name, key = parse_path(path)
        if name == PROVENANCE:
            fields.pop(PROVENANCE, None)
            continue
        stored = dict(fields[name])
        if key is None:
            stored["value"] = None
        else:
            stored["value"] = {**stored["value"], key: None}
        fields[name] = stored
