"""The session read model users get back: ``WorkflowSession``."""

from __future__ import annotations

from kern.projections.runs import WorkflowChatInteraction
from kern.projections.session import WorkflowSession

__all__ = ["WorkflowChatInteraction", "WorkflowSession"]
