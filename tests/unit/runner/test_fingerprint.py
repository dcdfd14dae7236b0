"""The workflow fingerprint: computed once per set of steps, not once per run."""

from __future__ import annotations

import pytest

import kern.application.provenance as provenance
from kern.db.in_memory import InMemoryDb
from kern.workflow import StepInput, Workflow


def first(step_input: StepInput) -> str:
    return "one"


def second(step_input: StepInput) -> str:
    return "two"


def test_runs_reuse_the_fingerprint_and_a_new_step_list_gets_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = InMemoryDb()
    workflow = Workflow(name="fp", db=db, steps=[first])
    reads: list[object] = []
    digest = provenance._source_digest

    def counted(obj: object) -> str | None:
        reads.append(obj)
        return digest(obj)

    monkeypatch.setattr(provenance, "_source_digest", counted)
    before = workflow.fingerprint
    for _ in range(3):
        workflow.run(input="x", session_id="s")
    assert reads == []  # no step's source was read again
    events = db.get_events("s")
    assert {e.provenance.workflow_fingerprint for e in events} == {before}

    workflow.steps = [first, second]
    changed = workflow.fingerprint
    assert changed != before and len(reads) == 2
    run = workflow.run(input="x", session_id="s")
    assert [r.content for r in run.step_results] == ["one", "two"]
    assert db.get_events("s")[-1].provenance.workflow_fingerprint == changed
