"""A reference model of one workflow session, in plain dicts and lists.

It follows the behaviour spec word for word (history, context, chat), with none
of Kern's machinery: no events, no folds. The property tests apply the same
operations to it and to Kern and expect every projection to agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelRun:
    """One run as the caller saw it."""

    run_id: str
    input: Any
    status: str = "RUNNING"
    content: Any = None
    step_contents: list[Any] = field(default_factory=list)


@dataclass
class Model:
    """A session: its runs in start order, its name and its state."""

    runs: list[ModelRun] = field(default_factory=list)
    name: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    def run(self, run_id: str) -> ModelRun:
        return next(run for run in self.runs if run.run_id == run_id)

    def history(self, num_runs: int | None) -> list[tuple[str, str]]:
        """get_workflow_history: COMPLETED runs only, the last num_runs of them."""
        completed = [run for run in self.runs if run.status == "COMPLETED"]
        return [(text(run.input), text(run.content)) for run in last(completed, num_runs)]

    def context(self, num_runs: int | None) -> str | None:
        """get_workflow_history_context, line by line as the spec writes it."""
        pairs = self.history(num_runs)
        if not pairs:
            return None
        lines = ["<workflow_history_context>"]
        for number, (input_text, output_text) in enumerate(pairs, start=1):
            lines.append(f"[Workflow Run-{number}]")
            if input_text:
                lines.append(f"User input: {input_text}")
            if output_text:
                lines.append(f"Workflow output: {output_text}")
            lines.append("")
        return "\n".join([*lines, "</workflow_history_context>", ""])

    def chat(self, last_n_runs: int | None) -> list[tuple[Any, Any]]:
        """get_chat_history: the last N runs of any status, those with input and output."""
        return [
            (run.input, run.content)
            for run in last(self.runs, last_n_runs)
            if run.input and run.content
        ]


def last(items: list[Any], n: int | None) -> list[Any]:
    """All when n is None, none when n <= 0, else the last n."""
    if n is None:
        return list(items)
    return list(items[-n:]) if n > 0 else []


def text(value: Any) -> str:
    """How a value reads in the history: "" when falsy, str as is, else str()."""
    if not value:
        return ""
    return value if isinstance(value, str) else str(value)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON, types and key order included (1, 1.0 and True differ)."""
    return json.dumps(a) == json.dumps(b)
