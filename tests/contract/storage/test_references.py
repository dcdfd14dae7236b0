"""Values recorded once: what a step receives again is stored as a reference, and read back whole.

Every test runs on each store. "Stored" means the record bytes the database
holds (``read_records``); "read back" means the events and views a reader
gets, from this db object and from one opened afresh (nothing cached).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kern.adapters.stores.recorder import RecorderStore
from kern.db import KernDb
from kern.domain.events import RunCompleted, StepCompleted
from kern.domain.records import Record, decode_record
from kern.errors import LogIntegrityError, UnreadableEventError
from kern.projections.expand import expand_stream
from kern.workflow import StepInput, Workflow
from tests.contract.kinds import STORED_BYTES
from tests.contract.reliability._inputs import reopened

INPUT = "a run input long enough to be worth referring to, " * 20
OUTPUT = "the first step's output, also long enough to refer to. " * 20


@dataclass
class Seen:
    """What each step received, as the executor saw it."""

    inputs: list[Any] = field(default_factory=list)


def recording_steps(seen: Seen) -> list[Callable[[StepInput], Any]]:
    def draft(step_input: StepInput) -> str:
        seen.inputs.append(
            {
                "input": step_input.input,
                "previous_step_content": step_input.previous_step_content,
                "workflow_history_context": step_input.get_workflow_history_context(num_runs=2),
            }
        )
        return OUTPUT

    def publish(step_input: StepInput) -> str:
        seen.inputs.append(
            {
                "input": step_input.input,
                "previous_step_content": step_input.previous_step_content,
                "workflow_history_context": step_input.get_workflow_history_context(num_runs=2),
            }
        )
        return str(step_input.previous_step_content)

    return [draft, publish]


def records(db: KernDb, session_id: str = "s") -> list[Record]:
    return db.store.read_records(session_id)


def stored(record: Record) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.state)
    return data


@STORED_BYTES
def test_a_step_stores_references_and_reads_back_exactly_what_it_received(db: KernDb) -> None:
    seen = Seen()
    workflow = Workflow(name="refs", db=db, steps=recording_steps(seen))
    run = workflow.run(INPUT, session_id="s")
    started, first, second, completed = records(db)[1:]
    # Stored: the run input once, the first output once; the rest are references.
    assert INPUT.encode() in started.state
    assert INPUT.encode() not in first.state + second.state + completed.state
    assert OUTPUT.encode() in first.state
    assert OUTPUT.encode() not in second.state + completed.state
    assert stored(second)["refs"]["input/input"] == [f"@{started.version}"]
    assert stored(second)["refs"]["input/previous_step_content"] == [f"@{first.version}"]
    assert stored(completed)["refs"]["content"] == [f"@{second.version}"]
    # Read back: every value whole, in this process and in a new one.
    assert run.run_id is not None
    views = [db.get_step_view("s", run.run_id, i) for i in (0, 1)]
    assert [v.input for v in views] == [
        {"input": INPUT, "previous_step_content": None, "workflow_history_context": None},
        {"input": INPUT, "previous_step_content": OUTPUT, "workflow_history_context": None},
    ]
    # What the executors saw (history off: no context at all).
    assert [{**s, "workflow_history_context": None} for s in seen.inputs] == [
        v.input for v in views
    ]
    with reopened(db) as fresh:
        session = fresh.get_session("s")
        assert session is not None and session.runs is not None
        assert session.runs[0].content == OUTPUT
        assert [s.input for s in session.runs[0].step_results] == [v.input for v in views]
        assert fresh.get_events("s") == db.get_events("s")


def test_the_history_context_is_a_reference_and_reads_back_byte_for_byte(db: KernDb) -> None:
    seen = Seen()
    workflow = Workflow(
        name="history",
        db=db,
        steps=recording_steps(seen),
        add_workflow_history_to_steps=True,
        num_history_runs=2,
    )
    runs = [workflow.run(f"{INPUT} #{n}", session_id="s") for n in range(4)]
    received = seen.inputs[-1]["workflow_history_context"]
    assert isinstance(received, str) and "#2" in received and "#0" not in received
    last_step = records(db)[-2]
    assert received.encode() not in last_step.state
    (part,) = stored(last_step)["refs"]["input/workflow_history_context"]
    assert part.startswith("history:")
    with reopened(db) as fresh:
        run_id = runs[-1].run_id
        assert run_id is not None
        view = fresh.get_step_view("s", run_id, 1)
        assert view.history_context == received
        assert view.input["workflow_history_context"] == received


class Agent:
    """An agent-like executor that remembers the exact message it got."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def run(self, message: str) -> Any:
        self.messages.append(message)
        return OUTPUT


def test_an_agents_message_with_history_is_stored_as_two_references(db: KernDb) -> None:
    agent = Agent()
    workflow = Workflow(
        name="agent", db=db, steps=[agent], add_workflow_history_to_steps=True, num_history_runs=3
    )
    for n in range(3):
        workflow.run(f"{INPUT} #{n}", session_id="s")
    message = agent.messages[-1]
    assert message.startswith("<workflow_history_context>") and message.endswith(f"{INPUT} #2")
    step = records(db)[-2]
    parts = stored(step)["refs"]["input"]
    assert [p.split(":")[0] for p in parts] == ["history", f"@{records(db)[-3].version}"]
    with reopened(db) as fresh:
        last = fresh.get_session("s")
        assert last is not None and last.runs is not None
        assert last.runs[-1].step_results[0].input == message


@STORED_BYTES
def test_a_value_a_step_changed_in_place_is_stored_again(db: KernDb) -> None:
    """Only an exact match is referenced: a step that edits the input dict hands the
    next step its own value, and that is what gets stored for it."""
    given = {"topic": "storage", "notes": ["x" * 100]}

    def edit(step_input: StepInput) -> str:
        step_input.input["notes"].append("added")
        return "edited"

    def read(step_input: StepInput) -> Any:
        return step_input.input

    workflow = Workflow(name="edit", db=db, steps=[edit, read])
    run = workflow.run(given, session_id="s")
    second = stored(records(db)[-2])
    assert "input/input" not in second.get("refs", {})
    assert second["input"]["value"]["input"]["notes"][-1] == "added"
    assert run.run_id is not None
    with reopened(db) as fresh:
        assert fresh.get_step_view("s", run.run_id, 1).input["input"]["notes"][-1] == "added"
        assert fresh.get_step_view("s", run.run_id, 0).input["input"]["notes"] == ["x" * 100]


@STORED_BYTES
def test_short_values_are_copied_not_referenced(db: KernDb) -> None:
    workflow = Workflow(
        name="short", db=db, steps=[lambda s: "ok", lambda s: s.previous_step_content]
    )
    workflow.run("hi", session_id="s")
    step = stored(records(db)[-2])
    assert set(step["refs"]) == {"provenance"}
    assert step["input"]["value"]["input"] == "hi"


def test_the_feed_serves_events_with_their_values_put_back(db: KernDb) -> None:
    workflow = Workflow(name="feed", db=db, steps=recording_steps(Seen()))
    workflow.run(INPUT, session_id="s")
    with reopened(db) as fresh:
        events = [entry.event for entry in fresh.store.read_feed()]
    steps = [e for e in events if isinstance(e, StepCompleted)]
    received = steps[1].input.value
    assert isinstance(received, dict)
    assert received["input"] == INPUT
    assert received["previous_step_content"] == OUTPUT
    assert next(e for e in events if isinstance(e, RunCompleted)).content.value == OUTPUT
    assert events == db.get_events("s")


@STORED_BYTES
def test_export_keeps_references_and_import_reads_the_same_session(
    db: KernDb, other_db: KernDb
) -> None:
    workflow = Workflow(name="move", db=db, steps=recording_steps(Seen()))
    workflow.run(INPUT, session_id="s")
    lines = list(db.export("s"))
    assert not any(INPUT in line for line in lines[2:])
    other_db.import_lines(lines)
    assert other_db.get_events("s") == db.get_events("s")
    assert other_db.verify("s").ok


def _retargeted(
    lines: list[str], version: int, change: Callable[[dict[str, Any]], None]
) -> list[str]:
    """The export with the event at ``version`` changed and the chain rehashed after it,
    as a writer with database access (not Kern) could."""
    from kern.domain.encoding import encode_json, link_hash

    out, previous = [], ""
    for line in lines:
        entry = json.loads(line)
        payload = entry["payload"]
        out.append((entry, payload))
    rebuilt = []
    for entry, payload in out:
        if entry.get("version") == version:
            change(payload)
        body = {k: v for k, v in payload.items() if k != "hash"}
        payload["hash"] = link_hash(
            previous, entry["topic"], entry["session_id"], entry["version"], encode_json(body)
        )
        previous = payload["hash"]
        rebuilt.append(json.dumps(entry))
    return rebuilt


@STORED_BYTES
def test_a_reference_that_does_not_resolve_is_refused_on_import(
    db: KernDb, other_db: KernDb
) -> None:
    workflow = Workflow(name="bad", db=db, steps=recording_steps(Seen()))
    workflow.run(INPUT, session_id="s")
    lines = list(db.export("s"))
    last_step = json.loads(lines[-2])["version"]

    def forward(payload: dict[str, Any]) -> None:
        payload["refs"]["input/input"] = [f"@{last_step + 1}"]

    with pytest.raises(LogIntegrityError, match=r"version 4 .*does not point to an earlier event"):
        other_db.import_lines(_retargeted(lines, last_step, forward))
    assert other_db.store.read_records("s") == []


@STORED_BYTES
def test_a_history_reference_whose_text_differs_is_unreadable_not_shown(db: KernDb) -> None:
    """The digest in a history reference covers the text: if the runs it names render
    differently (the log was rewritten and rehashed), the reader refuses the event."""
    workflow = Workflow(
        name="digest", db=db, steps=recording_steps(Seen()), add_workflow_history_to_steps=True
    )
    for n in range(2):
        workflow.run(f"{INPUT} #{n}", session_id="s")
    decoded = [decode_record(r) for r in records(db)]
    step = next(
        e
        for e in decoded
        if isinstance(e, StepCompleted) and "input/workflow_history_context" in e.refs
    )
    part = step.refs["input/workflow_history_context"][0]
    wrong = part.split(":")
    wrong[1] = "0" * len(wrong[1])
    tampered = [
        e
        if e is not step
        else type(e)(
            **{
                **e.__dict__,
                "refs": {**e.refs, "input/workflow_history_context": [":".join(wrong)]},
            }
        )
        for e in decoded
    ]
    with pytest.raises(UnreadableEventError, match=r"does not render to the recorded digest"):
        expand_stream(tampered)
    assert expand_stream(decoded) == db.get_events("s")


def test_a_feed_page_resolves_references_from_the_page_itself(
    db: KernDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower with nothing cached reads a page of the feed in one query: the
    events its references name are earlier in the same page."""
    workflow = Workflow(name="follow", db=db, steps=recording_steps(Seen()))
    for _ in range(2):
        workflow.run(INPUT, session_id="s")
    with reopened(db) as fresh:
        store = fresh.store
        assert isinstance(store, RecorderStore)
        reads: list[object] = []
        point_read = store._records

        def counted(*args: Any, **kwargs: Any) -> Any:
            reads.append(args)
            return point_read(*args, **kwargs)

        monkeypatch.setattr(store, "_records", counted)
        events = [entry.event for entry in store.read_feed()]
    assert reads == []
    assert events == db.get_events("s")
