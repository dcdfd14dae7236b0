"""The workflow ``kern demo`` runs: three small, deterministic steps.

1. ``research``, a function step, turns the topic into a few "findings".
2. ``summarize``, an agent-like executor (it has ``run(message)``), sees the
   ``<workflow_history_context>`` of earlier runs before the findings.
3. ``tally``, a function step, counts runs in the shared session state.

Nothing here calls a model or the network, so every run gives the same output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kern.application.runner.steps import Step, StepInput
from kern.application.sessions import KernDb
from kern.workflow import Workflow

DEMO_NAME = "Research Pipeline"
DEMO_DESCRIPTION = "Automated research and analysis pipeline"
DEMO_TOPICS = ("AI trends", "Vector databases", "Event sourcing")


def research(step_input: StepInput) -> str:
    """Pretend research: findings derived from the words of the topic."""
    topic = str(step_input.input)
    words = topic.lower().split()
    findings = [f"'{word}' appears in {len(word) * 3} recent articles" for word in words]
    return f"Findings on {topic}: " + "; ".join(findings)


@dataclass
class AgentReply:
    """What the summarizer returns: the shape of an agent's run response."""

    content: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class Summarizer:
    """An agent-like executor: ``run(message)`` answers with ``.content``.

    With workflow history on for its step, ``message`` starts with the
    history context of the session's earlier runs.
    """

    name = "Summarizer"
    agent_id = "summarizer"

    def run(self, message: str) -> AgentReply:
        """Summarize the findings, saying how many earlier runs were in view."""
        earlier = message.count("[Workflow Run-")
        findings = message.rsplit("</workflow_history_context>\n", 1)[-1]
        topic = findings.removeprefix("Findings on ").split(":", 1)[0]
        content = f"Summary of {topic}, building on {earlier} earlier run(s)."
        return AgentReply(
            content=content,
            messages=[
                {"role": "user", "content": message},
                {"role": "assistant", "content": content},
            ],
        )


def tally(step_input: StepInput) -> str:
    """Count this run in the session state and list the topics seen so far."""
    state = step_input.session_state
    state["runs_counted"] = int(state.get("runs_counted", 0)) + 1
    state["topics"] = [*state.get("topics", []), str(step_input.input)]
    return f"{step_input.previous_step_content} (run {state['runs_counted']} of this session)"


def demo_workflow(db: KernDb | None = None) -> Workflow:
    """The demo's Research Pipeline, recording into ``db`` (a private in-memory
    store when None; ``kern replay --workflow kern.adapters.cli.demo_workflow:demo_workflow``
    loads it that way and points it at ``--db``)."""
    return Workflow(
        name=DEMO_NAME,
        description=DEMO_DESCRIPTION,
        db=db,
        steps=[
            research,
            Step(name="summarize", agent=Summarizer(), add_workflow_history=True),
            tally,
        ],
        num_history_runs=3,
    )


def demo_topic(index: int) -> str:
    """The input of run ``index`` (0-based): the demo topics, then numbered repeats."""
    topic = DEMO_TOPICS[index % len(DEMO_TOPICS)]
    rounds = index // len(DEMO_TOPICS)
    return topic if rounds == 0 else f"{topic} (round {rounds + 1})"
