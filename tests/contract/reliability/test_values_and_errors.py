"""Values at the edge of what Kern stores, and steps whose errors are hostile, on every store.

Whatever Kern writes reads back in another process: the deepest value it
accepts is read by a store object opened afresh and decoded from its raw
records. A step whose exception cannot be printed still ends its run as ERROR,
with the exception's type and traceback kept. The values and arguments that
are refused are in the table of test_bad_input.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.domain.events import RunCompleted, StepCompleted
from kern.domain.records import decode_record
from kern.domain.values import MAX_NESTING
from kern.projections.expand import expand_stream
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.conftest import failing
from tests.contract.reliability._inputs import nested, reopened


def test_the_deepest_value_allowed_reads_back_from_a_store_opened_again(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    """Run input, step output, session state and metadata each at MAX_NESTING: the
    session, its listing, verify and export all read in a store object opened
    afresh, and every raw record decodes."""
    deepest = nested(MAX_NESTING)
    workflow = make_workflow(steps=[lambda step_input: step_input.input])
    workflow.run(
        input=deepest,
        session_id="deep",
        session_state={"k": nested(MAX_NESTING - 1)},  # the state is a level itself
        metadata={"k": nested(MAX_NESTING - 1)},
    )
    with reopened(db) as fresh:
        session = fresh.get_session("deep")
        assert session is not None and session.runs is not None
        assert session.runs[0].input == deepest
        assert session.runs[0].content == deepest
        assert session.session_state == {"k": nested(MAX_NESTING - 1)}
        assert [s.session_id for s in fresh.get_sessions()] == ["deep"]
        assert fresh.verify("deep").ok
        assert len(list(fresh.export("deep"))) == len(fresh.get_events("deep"))
        decoded = [
            decode_record(r, fresh.store.key_lookup) for r in fresh.store.read_records("deep")
        ]
        assert expand_stream(decoded) == fresh.get_events("deep")


class UnprintableError(Exception):
    """An exception whose message cannot be read."""

    def __str__(self) -> str:
        raise RuntimeError("no message for you")


def raises_surrogate(step_input: StepInput) -> str:
    raise ValueError("bad byte \ud800 here")


def raises_unprintable(step_input: StepInput) -> str:
    raise UnprintableError()


HOSTILE = {
    "lone-surrogate": (raises_surrogate, ValueError, "ValueError", "bad byte \\ud800 here"),
    "broken-str": (
        raises_unprintable,
        UnprintableError,
        f"{__name__}.UnprintableError",
        "UnprintableError (its message could not be read: RuntimeError)",
    ),
}


@pytest.mark.parametrize(("step", "raised", "error_type", "error"), HOSTILE.values(), ids=HOSTILE)
def test_a_step_error_that_cannot_be_printed_still_ends_the_run_as_error(
    db: KernDb,
    make_workflow: Callable[..., Workflow],
    step: Callable[[StepInput], str],
    raised: type[Exception],
    error_type: str,
    error: str,
) -> None:
    """The caller gets the step's own exception; the record keeps a safe rendering of
    its message, its type and its traceback, readable in a store opened again."""
    with pytest.raises(raised) as caught:
        make_workflow(steps=[failing(step)]).run(input="hi", session_id="s")
    assert caught.value.__traceback__ is not None
    with reopened(db) as fresh:
        *_, failed_step, completed = fresh.get_events("s")
        assert isinstance(failed_step, StepCompleted) and isinstance(completed, RunCompleted)
        for event in (failed_step, completed):
            assert (event.error, event.error_type) == (error, error_type)
            assert event.traceback is not None
            assert event.traceback.startswith("Traceback (most recent call last):")
            assert step.__name__ in event.traceback
        session = fresh.get_session("s")
        assert session is not None and session.runs is not None
        run = session.runs[0]
        assert (run.status, run.error, run.error_type) == (RunStatus.error, error, error_type)
        assert run.traceback == completed.traceback
        assert (run.step_results[0].error_type, run.step_results[0].traceback) == (
            error_type,
            failed_step.traceback,
        )
        assert fresh.verify("s").ok


def test_a_run_that_succeeds_records_no_error_details(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    make_workflow().run(input="hi", session_id="s")
    session = db.get_session("s")
    assert session is not None and session.runs is not None
    run = session.runs[0]
    assert (run.error, run.error_type, run.traceback) == (None, None, None)
    assert all(step.error_type is None and step.traceback is None for step in run.step_results)
