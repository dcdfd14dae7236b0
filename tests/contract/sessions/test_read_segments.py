"""Read-model segments: reads that start from them give exactly what folding every event gives."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import pytest

from kern.application import read_model
from kern.crypto import ERASED
from kern.db import KernDb
from kern.projections.fold import project_session
from kern.projections.segments import FOLD_VERSION
from kern.workflow import StepInput, Workflow
from tests.contract.kinds import STORED_BYTES


def count_runs(step_input: StepInput) -> str:
    """A step that changes the session state and answers with its input."""
    state = step_input.session_state
    state["runs"] = state.get("runs", 0) + 1
    return f"seen {step_input.input}" if len(str(step_input.input)) < 50 else "seen " * 20


def fail_on_three(step_input: StepInput) -> str:
    """A step that fails on run 3's input and repeats the previous output otherwise."""
    if str(step_input.input).startswith("3 "):
        raise ValueError("three")
    return str(step_input.previous_step_content)


@pytest.fixture
def session(db: KernDb, monkeypatch: pytest.MonkeyPatch) -> str:
    """A session of seven runs (one failed, one renamed in between), read once so
    that its segments are written (a segment every two finished runs)."""
    monkeypatch.setattr(read_model, "SEGMENT_RUNS", 2)
    workflow = Workflow(name="w", db=db, steps=[count_runs, fail_on_three], session_id="s")
    for n in range(7):
        if n == 4:
            db.rename_session("s", "renamed")
        with contextlib.suppress(ValueError):
            # Long text, some of it beyond ASCII: segments keep it as UTF-8 bytes.
            workflow.run(f"{n} " + ("long input " if n % 2 else "ünïcødé ✓ 🚀 ") * 10)
    db.get_session("s")
    return "s"


def folded(db: KernDb, session_id: str, upto: int | None = None) -> object:
    return project_session(db.store.read(session_id, upto=upto))


def test_a_plain_read_keeps_finished_runs_as_segments(db: KernDb, session: str) -> None:
    segments = db.store.read_segments(session)
    assert [s.runs for s in segments] == [2, 2, 2]
    assert db.get_session(session) == folded(db, session)


def test_every_as_of_read_gives_what_folding_the_events_gives(db: KernDb, session: str) -> None:
    last = len(db.get_events(session))
    for version in range(1, last + 1):
        restored = db.get_session(session, as_of=version)
        assert restored == folded(db, session, version), version
        assert restored is not None and restored.version == version


def test_a_segment_that_does_not_match_the_log_is_ignored_and_replaced(
    db: KernDb, session: str
) -> None:
    segments = db.store.read_segments(session)
    forged = dataclasses.replace(segments[-1], hash="0" * 64)
    db.store.write_segments(session, [forged])
    assert db.get_session(session) == folded(db, session)
    assert db.store.read_segments(session)[-1].hash == segments[-1].hash


@STORED_BYTES
@pytest.mark.parametrize(
    "spoil",
    [
        lambda body: b"not json",
        lambda body: body.replace(b'"runs":[', b'"runs":[1,', 1),
        lambda body: body.replace(b'"COMPLETED"', b'"NOPE"', 1),
        lambda body: body.replace(b'"step_name"', b'"name"', 1),
        lambda body: body.replace(b'"fold":%d' % FOLD_VERSION, b'"fold":0', 1),
    ],
)
def test_an_unreadable_segment_is_folded_again_from_the_events(
    db: KernDb, session: str, spoil: Callable[[bytes], bytes]
) -> None:
    segments = db.store.read_segments(session)
    spoiled = spoil(segments[1].body)
    assert spoiled != segments[1].body
    db.store.write_segments(session, [dataclasses.replace(segments[1], body=spoiled), segments[2]])
    assert db.get_session(session) == folded(db, session)
    as_of = segments[2].version
    assert db.get_session(session, as_of=as_of) == folded(db, session, as_of)


def test_a_deleted_session_stays_deleted_whatever_its_segments(db: KernDb, session: str) -> None:
    before = db.store.read_segments(session)
    assert db.delete_session(session)
    assert db.get_session(session) is None
    assert db.get_session(session, as_of=before[-1].version) == folded(
        db, session, before[-1].version
    )


def test_a_step_input_holding_earlier_values_is_restored_with_them(
    db: KernDb, session: str
) -> None:
    restored = db.get_session(session)
    assert restored is not None and restored.runs is not None
    run = restored.runs[0]
    first, second = (step.input for step in run.step_results)
    # Restored as the very same objects: one copy of each value in memory.
    assert first["input"] is run.input
    assert second["previous_step_content"] is run.step_results[0].content


@pytest.mark.parametrize("store_kind", ["sqlite-keyring"], indirect=True)
def test_a_store_with_a_keyring_keeps_its_segments_sealed(db: KernDb, session: str) -> None:
    """On the encrypted store: a segment body holds no value in clear, a changed one
    is folded again, and an erasure forgets the segments with the log."""
    assert db.store.data_keys is not None
    segments = db.store.read_segments(session)
    assert [s.runs for s in segments] == [2, 2, 2]
    assert not any(b"long input" in s.body or b"seen" in s.body for s in segments)
    flipped = bytearray(segments[1].body)
    flipped[-1] ^= 1
    db.store.write_segments(session, [dataclasses.replace(segments[1], body=bytes(flipped))])
    assert db.get_session(session) == folded(db, session)
    db.erase_session(session, reason="test")
    erased = db.get_session(session)
    assert erased is not None and erased == folded(db, session)
    assert all(run.input == ERASED for run in erased.runs or [])
