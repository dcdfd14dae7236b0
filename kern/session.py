"""The session read models users get back: ``WorkflowSession``, and
``DeletedSession`` (what ``get_deleted_sessions`` lists)."""

from __future__ import annotations

from kern.projections.listing import DeletedSession
from kern.projections.runs import WorkflowChatInteraction
from kern.projections.session import WorkflowSession

__all__ = ["DeletedSession", "WorkflowChatInteraction", "WorkflowSession"]
