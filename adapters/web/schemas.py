"""The shapes of the API's answers, for its OpenAPI document.

Routes return their JSON already serialized (:func:`kern.adapters.web.app.json_response`),
so these models describe the answers without being run on them; the tests
validate real answers against them, so the document cannot drift from what is
sent. The read models inside (a session, a log entry, a step view, a diff, a
verify report) are the ``to_dict``/``to_json`` forms documented on their
classes in :mod:`kern.projections`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Answer):
    type: str
    """The Kern error class (SessionNotFoundError, InvalidQueryError, ...) or
    Unauthenticated, HTTPError, InternalError."""
    message: str
    """What was wrong, naming the parameter or the session."""


class ErrorBody(_Answer):
    error: ErrorDetail


class Info(_Answer):
    kern_version: str
    scoped: bool
    """Whether every read is scoped to the user the request names."""
    user_id: str | None
    event_types: list[str]
    """The event types Kern records (the ``event_type`` filter of the event log)."""


class SessionRow(_Answer):
    session_id: str
    user_id: str | None
    workflow_id: str | None
    workflow_name: str | None
    session_name: str
    created_at: float | None
    updated_at: float | None
    runs: int
    last_status: str | None


class SessionsPage(_Answer):
    sessions: list[SessionRow]
    page: int
    limit: int
    has_more: bool


class SessionAt(_Answer):
    session: dict[str, Any]
    """WorkflowSession.to_dict(): runs, session_data (name, state), metadata, times."""
    version: int
    """The version of the session shown: its head, or the one as_of named."""
    head_version: int
    as_of: str | None


class EventsPage(_Answer):
    events: list[dict[str, Any]]
    """LogEntry.to_json(): version, timestamp, event_type, run_id, user_id,
    payload, provenance, hash."""
    next_after: int | None
    """Pass as ``after`` for the next page; null when there is no more."""
    head_version: int
