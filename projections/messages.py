"""Selecting the messages of agent/team runs recorded inside workflow steps."""

from __future__ import annotations

from collections.abc import Sequence

from kern.domain.values import ExecutorMessage, ExecutorRun, RunStatus
from kern.projections.windows import last_n


def select_messages(
    runs: Sequence[ExecutorRun],
    *,
    last_n_runs: int | None = None,
    limit: int | None = None,
    skip_roles: Sequence[str] | None = None,
    skip_statuses: Sequence[RunStatus | str] | None = None,
    skip_history_messages: bool = True,
) -> list[ExecutorMessage]:
    """The messages of ``runs``, filtered in the spec's order.

    Runs whose status is in ``skip_statuses`` go first, then all but the last
    ``last_n_runs``; then each message tagged ``from_history`` (when
    ``skip_history_messages``) or whose role is in ``skip_roles``. Only the first
    system message is kept. With ``limit``: that system message first, then the
    last ``limit - 1`` others (the last ``limit`` when there is no system
    message), with leading "tool" results dropped since their call is cut off.
    """
    skipped = {RunStatus(s) for s in skip_statuses or ()}
    kept_runs = last_n([r for r in runs if r.status not in skipped], last_n_runs)
    roles = set(skip_roles or ())
    system: ExecutorMessage | None = None
    in_order: list[ExecutorMessage] = []
    others: list[ExecutorMessage] = []
    for run in kept_runs:
        for message in run.messages:
            if (skip_history_messages and message.from_history) or message.role in roles:
                continue
            if message.role == "system":
                if system is None:
                    system = message
                    in_order.append(message)
                continue
            in_order.append(message)
            others.append(message)
    if limit is None:
        return in_order
    window = last_n(others, limit - 1 if system is not None else limit)
    while window and window[0].role == "tool":
        window.pop(0)
    return [system, *window] if system is not None else window
