"""Resuming a run left RUNNING: go on from its first unfinished step.

A process that dies mid-run leaves its run RUNNING with the steps it
finished recorded (see :mod:`kern.application.runner.run`). A
:class:`ResumedRun` reads that run, appends RunResumed, and runs the
remaining steps as the run would have: each one receives the run's recorded
input, the recorded content of the step before it, the session state the
finished steps left and the history the run started with. The finished steps
are not run again; their recorded outputs stand in for them.

A step is finished when its StepCompleted is stored. A step that returned
but whose StepCompleted was not committed before the process died is not
finished: it runs again. So a resumed run's steps must be idempotent, at
least the one that may have been cut off.

Only one writer continues a run. RunResumed is decided on the run as the
resumer read it (its next step and its resumptions so far): a second
resumer, or a writer still alive, that moved the run since makes the
decision fail with RunAlreadyResumedError, and nothing of the loser's is
written. Each resumption numbers its appends, so the writer of an earlier
resumption (a process that was only slow, not dead) is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kern.application.runner.run import RunRecorder
from kern.application.runner.steps import ResolvedStep, StepInput
from kern.application.runner.values import RUN_INPUT
from kern.domain.aggregate import ABANDONED, RunState, SessionAggregate
from kern.domain.errors import (
    InvalidStepError,
    RunAbandonedError,
    RunAlreadyFinishedError,
    RunNotFoundError,
    SessionNotFoundError,
)
from kern.domain.events import (
    RunCompleted,
    RunEvent,
    RunResumed,
    RunStarted,
    SessionEvent,
    StepCompleted,
)
from kern.domain.values import Provenance
from kern.projections.fold import project_session
from kern.projections.runs import StepOutput

if TYPE_CHECKING:
    from kern.application.runner.workflow import Workflow


class RecordedRun:
    """What the log holds of one open run: its start, its finished steps and how
    many times it was resumed."""

    def __init__(self, session_id: str, run_id: str, events: Sequence[SessionEvent]) -> None:
        mine = [e for e in events if isinstance(e, RunEvent) and e.run_id == run_id]
        started = next((e for e in mine if isinstance(e, RunStarted)), None)
        if started is None:
            raise RunNotFoundError.of(session_id, run_id)
        ended = next((e for e in mine if isinstance(e, RunCompleted)), None)
        if ended is not None:
            abandoned = ended.error_type == ABANDONED
            raise (RunAbandonedError if abandoned else RunAlreadyFinishedError)(
                f"run {run_id!r} of session {session_id!r} has already finished "
                f"({'abandoned: ' + str(ended.error) if abandoned else ended.status.value}): "
                "only a RUNNING run can be resumed",
                session_id=session_id,
                run_id=run_id,
            )
        self.started = started
        self.events = events
        self.recorded = [e for e in mine if isinstance(e, StepCompleted)]
        """Every step the run recorded, inside step primitives too, in log order."""
        # A step primitive's own StepCompleted comes after its inner steps': only
        # top-level events say a step is finished.
        self.steps = [e for e in self.recorded if e.is_top_level]
        inner = [e for e in self.recorded if not e.is_top_level]
        if inner and inner[-1].step_index >= len(self.steps):
            raise InvalidStepError(
                f"run {run_id!r} of session {session_id!r} stopped inside step primitive "
                f"{inner[-1].step_index + 1} (its step {inner[-1].step_path} is recorded, the "
                "primitive is not): Kern resumes a run between top-level steps only, and "
                "running the primitive again would record its steps twice; abandon the run "
                "(abandon_run) and start it again"
            )
        resumed = [e for e in mine if isinstance(e, RunResumed)]
        self.resumptions = resumed[-1].resumption if resumed else 0
        self.before = [e for e in events if e.version < started.version]

    @property
    def seen(self) -> RunState:
        """The run as read: what RunResumed is decided on."""
        return RunState(next_step=len(self.steps), resumptions=self.resumptions)

    def check_steps(self, steps: Sequence[ResolvedStep]) -> None:
        """InvalidStepError unless the workflow's steps begin with the ones recorded."""
        names = [step.name for step in steps]
        recorded = [event.step_name for event in self.steps]
        if len(recorded) > len(names) or names[: len(recorded)] != recorded:
            raise InvalidStepError(
                f"cannot resume run {self.started.run_id!r}: it recorded the steps "
                f"{recorded}, and this workflow's steps are {names}; resume it with the "
                "workflow that started it"
            )


class ResumedRun(RunRecorder):
    """A RUNNING run, continued from its first unfinished step."""

    def __init__(
        self,
        workflow: Workflow,
        session_id: str,
        user_id: str | None,
        run_id: str,
        provenance: Provenance,
        *,
        asynchronous: bool = False,
    ) -> None:
        super().__init__(
            workflow, session_id, user_id, run_id, None, provenance, asynchronous=asynchronous
        )
        self.recorded: RecordedRun | None = None

    def _begin(self, overrides: Mapping[str, Any] | None) -> int:
        """Read the run, append RunResumed, and stand where its finished steps left it."""
        run = self._read()
        run.check_steps(self.workflow._resolved)
        resumer = self.provenance
        resumed = self.db.execute(
            self.session_id,
            lambda session: session.resume_run(
                run_id=self.run_id, user_id=self.user_id, seen=run.seen, provenance=resumer
            ),
        ).events[-1]
        assert isinstance(resumed, RunResumed)
        self.recorded, self.resumption = run, resumed.resumption
        started = run.started
        if self.user_id is None:  # an unscoped resumer writes the run as its user's
            self.user_id = self.output.user_id = started.user_id
        # The run's events share its RunStarted's provenance (their stored form
        # refers to it); RunResumed alone says who resumed it.
        self.provenance = started.provenance
        self.input = self.output.input = started.input.value
        self.output.metadata = started.provenance.metadata
        self.output.created_at = int(started.timestamp.timestamp())
        self.values.add(RUN_INPUT, self.input, started.input.value, version=started.version)
        self.base_state = SessionAggregate.replay(self.session_id, run.before).state
        state = dict(started.session_state)
        for token, step in enumerate(run.recorded):
            state = step.state_changes.apply_to(state)
            self.values.add(token, step.content.value, step.content.value, version=step.version)
            if step.executor_run is not None:
                self.output.step_executor_runs.append(step.executor_run)
            if step.is_top_level:  # a primitive's duration covers its steps'
                self.earlier += step.metrics.duration
        self._recorded_steps = len(run.recorded)
        # The finished steps' results as the read model has them: a primitive's
        # with its steps inside, so the next step is handed what Agno hands on.
        self.output.step_results = _finished_results(run, len(run.steps))
        self.output.session_state = state
        self._run_started, self._last = started, resumed
        return started.version - 1

    def _read(self) -> RecordedRun:
        events = self.db.get_events(self.session_id, self.user_id)
        if not events:
            raise SessionNotFoundError.of(self.session_id)
        return RecordedRun(self.session_id, self.run_id, events)

    def _carry_over(self, step_input: StepInput) -> None:
        for output in self.output.step_results:
            step_input.previous_step_outputs[output.step_name or ""] = output
            step_input.previous_step_content = output.content

    def _steps(self) -> list[ResolvedStep]:
        done = len(self.recorded.steps) if self.recorded is not None else 0
        return self.workflow._resolved[done:]


def _finished_results(run: RecordedRun, finished: int) -> list[StepOutput]:
    """The step results of ``run``'s first ``finished`` top-level steps."""
    session = project_session(run.events)
    assert session is not None
    found = next(r for r in session.runs or [] if r.run_id == run.started.run_id)
    return list((found.step_results or [])[:finished])
