"""The WorkflowSession read model and its queries (history, chat, messages).

Built by :mod:`kern.projections.fold` from a session's events whenever it is
read. Users get this object back from ``get_session``; it keeps the seed's
fields and methods, with Agno's defects fixed where the spec says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kern.domain.errors import UnstorableValueError
from kern.domain.values import ExecutorRun, RunStatus, to_json_value
from kern.projections.messages import select_messages
from kern.projections.runs import Message, WorkflowChatInteraction, WorkflowRunOutput
from kern.projections.windows import last_n


def history_text(value: Any) -> str:
    """How a run's input or output reads in the history: "" when falsy, str as is,
    anything else as Python's str() of its JSON form (so a pydantic model reads
    the same before and after a reload)."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    try:
        return str(to_json_value(value))
    except UnstorableValueError:
        return str(value)


def history_context(pairs: Sequence[tuple[str, str]]) -> str | None:
    """The ``<workflow_history_context>`` block for (input, output) pairs."""
    if not pairs:
        return None
    lines = ["<workflow_history_context>"]
    for number, (input_text, output_text) in enumerate(pairs, 1):
        lines.append(f"[Workflow Run-{number}]")
        if input_text:
            lines.append(f"User input: {input_text}")
        if output_text:
            lines.append(f"Workflow output: {output_text}")
        lines.append("")
    lines += ["</workflow_history_context>", ""]
    return "\n".join(lines)


@dataclass
class WorkflowSession:
    """A session as its events describe it."""

    session_id: str
    user_id: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    runs: list[WorkflowRunOutput] | None = None
    session_data: dict[str, Any] | None = None
    workflow_data: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    created_at: int | None = None
    updated_at: int | None = None
    version: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        # As Agno's: a session without runs has an empty list, so that
        # WorkflowSession(runs=[]) reads back equal from its to_dict().
        if self.runs is None:
            self.runs = []

    # -- runs -----------------------------------------------------------------

    def get_run(self, run_id: str) -> WorkflowRunOutput | None:
        """The run with this run_id, or None."""
        return next((run for run in self.runs or [] if run.run_id == run_id), None)

    def upsert_run(self, run: WorkflowRunOutput) -> None:
        """Replace the run with the same run_id in place, else append it."""
        if self.runs is None:
            self.runs = []
        for i, existing in enumerate(self.runs):
            if existing.run_id == run.run_id:
                self.runs[i] = run
                return
        self.runs.append(run)

    # -- history ----------------------------------------------------------------

    def get_workflow_history(self, num_runs: int | None = None) -> list[tuple[str, str]]:
        """(input, output) text pairs of the last ``num_runs`` COMPLETED runs."""
        completed = [r for r in self.runs or [] if r.status == RunStatus.completed]
        return [
            (history_text(r.input), history_text(r.content)) for r in last_n(completed, num_runs)
        ]

    def get_workflow_history_context(self, num_runs: int | None = None) -> str | None:
        """The history above as the text handed to steps; None when empty."""
        return history_context(self.get_workflow_history(num_runs))

    def get_chat_history(self, last_n_runs: int | None = None) -> list[WorkflowChatInteraction]:
        """Input/output of the last runs (any status) whose input and output are set."""
        return [
            WorkflowChatInteraction(input=r.input, output=r.content)
            for r in last_n(self.runs or [], last_n_runs)
            if r.input and r.content
        ]

    def get_messages(
        self,
        agent_id: str | None = None,
        team_id: str | None = None,
        last_n_runs: int | None = None,
        limit: int | None = None,
        skip_roles: Sequence[str] | None = None,
        skip_statuses: Sequence[RunStatus | str] | None = None,
        skip_history_messages: bool = True,
        skip_member_messages: bool = True,
    ) -> list[Message]:
        """Messages of the agent (or team) runs recorded inside this session's steps."""
        if agent_id and team_id:
            raise ValueError("agent_id and team_id cannot be used together")
        if not self.runs:
            return []
        if not agent_id and not team_id:
            raise ValueError("agent_id or team_id must be provided")
        if agent_id:
            agent_runs = [
                er for run in self.runs for er in run.step_executor_runs if er.agent_id == agent_id
            ]
            return self.get_messages_from_agent_runs(
                agent_runs,
                last_n_runs=last_n_runs,
                limit=limit,
                skip_roles=skip_roles,
                skip_statuses=skip_statuses,
                skip_history_messages=skip_history_messages,
            )
        team_runs = [
            er for run in self.runs for er in run.step_executor_runs if er.team_id == team_id
        ]
        assert team_id is not None
        return self.get_messages_from_team_runs(
            team_id,
            team_runs,
            last_n_runs=last_n_runs,
            limit=limit,
            skip_roles=skip_roles,
            skip_statuses=skip_statuses,
            skip_history_messages=skip_history_messages,
            skip_member_messages=skip_member_messages,
        )

    def get_messages_from_agent_runs(
        self,
        runs: Sequence[ExecutorRun],
        last_n_runs: int | None = None,
        limit: int | None = None,
        skip_roles: Sequence[str] | None = None,
        skip_statuses: Sequence[RunStatus | str] | None = None,
        skip_history_messages: bool = True,
    ) -> list[Message]:
        """The messages of the given agent runs that fit the criteria (as Agno's):
        see :func:`kern.projections.messages.select_messages` for the order."""
        return select_messages(
            runs,
            last_n_runs=last_n_runs,
            limit=limit,
            skip_roles=skip_roles,
            skip_statuses=skip_statuses,
            skip_history_messages=skip_history_messages,
        )

    def get_messages_from_team_runs(
        self,
        team_id: str,
        runs: Sequence[ExecutorRun],
        last_n_runs: int | None = None,
        limit: int | None = None,
        skip_roles: Sequence[str] | None = None,
        skip_statuses: Sequence[RunStatus | str] | None = None,
        skip_history_messages: bool = True,
        skip_member_messages: bool = True,
    ) -> list[Message]:
        """The messages of the given team runs that fit the criteria (as Agno's):
        with ``skip_member_messages``, only the runs of ``team_id`` itself, not
        those of its members; then as :meth:`get_messages_from_agent_runs`."""
        if skip_member_messages:
            runs = [run for run in runs if run.team_id == team_id]
        return self.get_messages_from_agent_runs(
            runs,
            last_n_runs=last_n_runs,
            limit=limit,
            skip_roles=skip_roles,
            skip_statuses=skip_statuses,
            skip_history_messages=skip_history_messages,
        )

    # -- session data -----------------------------------------------------------

    @property
    def session_name(self) -> str:
        """The session's name, "" when it was never named."""
        return str((self.session_data or {}).get("session_name", ""))

    @property
    def session_state(self) -> dict[str, Any]:
        """The session state as of the last recorded event."""
        state: dict[str, Any] = (self.session_data or {}).get("session_state") or {}
        return state

    # -- serialisation ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "workflow_id": self.workflow_id,
            "workflow_name": self.workflow_name,
            "runs": [run.to_dict() for run in self.runs] if self.runs else None,
            "session_data": self.session_data,
            "workflow_data": self.workflow_data,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowSession | None:
        """A session from :meth:`to_dict` output; None when session_id is missing."""
        if data is None or data.get("session_id") is None:
            return None
        runs_data = data.get("runs")
        runs = None
        if runs_data is not None:
            runs = [
                r if isinstance(r, WorkflowRunOutput) else WorkflowRunOutput.from_dict(r)
                for r in runs_data
            ]
        return cls(
            session_id=data["session_id"],
            user_id=data.get("user_id"),
            workflow_id=data.get("workflow_id"),
            workflow_name=data.get("workflow_name"),
            runs=runs,
            session_data=data.get("session_data"),
            workflow_data=data.get("workflow_data"),
            metadata=data.get("metadata"),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
        )
