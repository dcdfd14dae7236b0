"""Replay: run a recorded run again through a workflow's current steps, and compare.

The replay starts from the session as it stood just before the run: the
recorded events before its RunStarted are copied, byte for byte, into a
scratch store the caller hands in, so the steps see the same history, and
the run is given the session state recorded in its RunStarted and its
recorded input (the JSON value). The original store is only read. The
comparison is :mod:`kern.projections.replay_diff`; a replayed step that
raises is reported there, never raised.
"""

from __future__ import annotations

from collections.abc import Callable

from kern.application.ports import SessionStore
from kern.application.privacy import erased
from kern.application.sessions import KernDb
from kern.application.timetravel import require_visible
from kern.domain.errors import RunErasedError, RunNotFoundError
from kern.domain.events import RunStarted
from kern.domain.values import same_json
from kern.projections.replay_diff import OutputDiff, RecordedRun, ReplayReport, diff_steps

Rerun = Callable[[KernDb, RunStarted], object]
"""Runs the run that ``RunStarted`` recorded again, on the current code, into the given db."""


def replay_run(
    store: SessionStore,
    run_id: str,
    session_id: str,
    user_id: str | None,
    *,
    scratch: KernDb,
    rerun: Rerun,
) -> ReplayReport:
    """Replay ``run_id`` of ``session_id`` with ``rerun`` into ``scratch``; see the module doc.

    SessionNotFoundError when the session is not visible to ``user_id``,
    RunNotFoundError when it never started the run.
    """
    require_visible(store, session_id, user_id)
    events = store.read(session_id)
    recorded = RecordedRun.find(events, run_id)
    if recorded is None:
        raise RunNotFoundError.of(session_id, run_id)
    if erased(store, session_id, recorded.started.version):
        raise RunErasedError(
            f"run {run_id!r} of session {session_id!r} was erased: its input and what its "
            "steps saw are gone, so it cannot be run again",
            session_id=session_id,
            run_id=run_id,
        )
    before = recorded.started.version - 1
    if store.data_keys is not None:
        # The scratch store reads the copied records, and seals the replayed run,
        # with the session's own key (already stored: nothing is written to ``store``).
        scratch.store.data_keys = store.data_keys
    scratch.store.append_records([r for r in store.read_records(session_id) if r.version <= before])
    replayed = _run_again(scratch, recorded.started, rerun)
    return ReplayReport(
        run_id=run_id,
        session_id=session_id,
        recorded_status=recorded.status,
        replayed_status=replayed.status,
        steps=diff_steps(recorded.steps, replayed.steps),
        output=OutputDiff(
            outcome="equal"
            if same_json((recorded.status, recorded.output), (replayed.status, replayed.output))
            else "changed",
            recorded=recorded.output,
            replayed=replayed.output,
        ),
    )


def _run_again(scratch: KernDb, started: RunStarted, rerun: Rerun) -> RecordedRun:
    """Run the recorded run again into ``scratch``; a failing step is recorded, not raised."""
    try:
        rerun(scratch, started)
    except Exception as exc:
        failure: Exception | None = exc  # recorded as the run's error; reported, not raised
    else:
        failure = None
    events = scratch.store.read(started.session_id, after=started.version - 1)
    replayed = RecordedRun.find(events, started.run_id)
    if replayed is None:  # the run never started: not a step failing, a real error
        assert failure is not None
        raise failure
    return replayed
