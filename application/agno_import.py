"""Importing Agno's workflow sessions: each one becomes a Kern session log.

An Agno database keeps a workflow session as one row of its sessions table
(owner, workflow, ``session_data`` with the name and the state, created_at
and updated_at in unix seconds) and its runs as rows of the runs table (or,
before Agno 3, as a JSON list on the session row). A reader in
``kern.adapters.agno`` reads them as :class:`AgnoSession` records; this module
turns each record into the events Kern would have recorded, at Agno's times:

- SessionStarted at the session's created_at, owned by its user_id, with its
  workflow_id, workflow_data and metadata; the workflow's name is taken from
  ``workflow_data["name"]`` (Agno keeps it there only);
- per stored workflow run, in Agno's order: RunStarted at the run's
  created_at, a StepCompleted per step result (nested results flattened in
  order) with the agent's or team's run Agno kept for it and its messages,
  and RunCompleted with the run's status, content and duration, when Agno
  last wrote the run (else at created_at plus that duration). A run Agno left
  RUNNING, PENDING or PAUSED gets no terminal event, so it reads back as RUNNING;
- SessionRenamed with the session's name, and SessionStateUpdated setting the
  state Agno kept, both at updated_at (Agno keeps only the last state, not
  what each run changed).

Every event is marked ``provenance.imported_from = "agno:<table>"``. The
events go through the aggregate like any write (it checks ids, names and the
owner, and seals values on a store with a keyring); its clock is set to the
record's time.

Each session is appended in its own transaction, so an import that stops
halfway leaves whole sessions only, and running it again goes on where it
stopped: a session already stored with the very events the import would write
(Kern's version stamp aside) is skipped, also when more events were added
after them since; one stored with anything else is reported as differing and
left alone, as is a session Kern cannot store (an id Kern refuses, a run of
another user). The report lists all four.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from kern.application import unit_of_work
from kern.application.ports import SessionStore
from kern.application.provenance import kern_version
from kern.domain.aggregate import SessionAggregate
from kern.domain.errors import KernError, SessionExistsError
from kern.domain.events import SessionEvent, event_fields
from kern.domain.values import (
    TERMINAL_STATUSES,
    ExecutorMessage,
    ExecutorRun,
    Metrics,
    Provenance,
    RunStatus,
    StateChanges,
    StoredValue,
)

Progress = Callable[[int, int], None]
"""Called with (sessions done, sessions in the source) as the import advances."""

NO_INPUT = StoredValue(type="null", value=None)
"""What an imported step received: Agno does not keep a step's input."""


@dataclass(frozen=True)
class AgnoSession:
    """One workflow session as Agno stored it, its JSON columns decoded."""

    session_id: str
    user_id: str | None
    workflow_id: str | None
    session_data: dict[str, Any] | None
    workflow_data: dict[str, Any] | None
    metadata: dict[str, Any] | None
    created_at: int
    updated_at: int | None
    runs: list[dict[str, Any]] = field(default_factory=list)
    """The workflow runs' ``run_data``, in the order Agno reads them."""
    runs_updated_at: dict[str, int] = field(default_factory=dict)
    """When Agno last wrote each run, by run_id (the runs table's ``updated_at``;
    runs still in the pre-3 column have none)."""


class AgnoSource(Protocol):
    """Where Agno's sessions are read from (``kern.adapters.agno``)."""

    @property
    def table(self) -> str:
        """The sessions table read."""

    def count(self) -> int:
        """How many workflow sessions the table holds."""

    def sessions(self) -> Iterator[AgnoSession]:
        """Every workflow session of the table, oldest first."""


class SessionProblem(NamedTuple):
    """A session the import left alone, and why."""

    session_id: str
    problem: str


@dataclass
class AgnoImportReport:
    """What an import did: the sessions it wrote, the ones already there (and
    identical), the ones stored otherwise, the ones Kern cannot store."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    differing: list[SessionProblem] = field(default_factory=list)
    refused: list[SessionProblem] = field(default_factory=list)
    events: int = 0

    @property
    def ok(self) -> bool:
        """True when every session is now in Kern as Agno had it."""
        return not self.differing and not self.refused

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "imported": list(self.imported),
            "skipped": list(self.skipped),
            "differing": [p._asdict() for p in self.differing],
            "refused": [p._asdict() for p in self.refused],
            "events": self.events,
        }


def import_agno(
    store: SessionStore, source: AgnoSource, progress: Progress | None = None
) -> AgnoImportReport:
    """Import every workflow session ``source`` reads (see the module doc)."""
    report = AgnoImportReport()
    mark = f"agno:{source.table}"
    total = source.count()
    _report(progress, 0, total)
    for done, session in enumerate(source.sessions(), start=1):
        _import_one(store, session, mark, report)
        _report(progress, done, max(done, total))
    return report


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _import_one(
    store: SessionStore, session: AgnoSession, mark: str, report: AgnoImportReport
) -> None:
    sid = session.session_id
    try:
        plan = session_plan(session, mark)
        expected = _rehearse(sid, plan)
    except (KernError, ValueError, TypeError) as exc:
        report.refused.append(SessionProblem(sid, str(exc)))
        return
    if _compare(store, sid, expected, report):
        return
    try:
        done = unit_of_work.execute(store, sid, lambda aggregate: _apply(aggregate, plan))
    except SessionExistsError:
        # Another import wrote it meanwhile: judge what is there now.
        if not _compare(store, sid, expected, report):
            raise
        return
    report.imported.append(sid)
    report.events += len(done.events)


def _compare(
    store: SessionStore, sid: str, expected: list[SessionEvent], report: AgnoImportReport
) -> bool:
    """Whether the session is stored already; if so, file it as skipped or differing."""
    stored = store.read(sid)
    if not stored:
        return False
    if same_events(stored[: len(expected)], expected):
        report.skipped.append(sid)
    else:
        report.differing.append(SessionProblem(sid, _difference(stored, expected)))
    return True


def _difference(stored: Sequence[SessionEvent], expected: Sequence[SessionEvent]) -> str:
    for position, (have, want) in enumerate(zip(stored, expected, strict=False), start=1):
        if not same_events([have], [want]):
            return (
                f"already in Kern with other events: version {position} is "
                f"{type(have).__name__}, the import would write {type(want).__name__} "
                "with other fields"
            )
    return (
        f"already in Kern with {len(stored)} event(s), fewer than the "
        f"{len(expected)} the import would write"
    )


def same_events(stored: Sequence[SessionEvent], expected: Sequence[SessionEvent]) -> bool:
    """Whether two logs hold the same events, leaving out what differs between two
    imports of the same records: the hashes (ciphertext differs on every write to
    a store with a keyring) and the version of Kern that wrote them."""
    return len(stored) == len(expected) and all(
        type(a) is type(b) and _comparable(a) == _comparable(b)
        for a, b in zip(stored, expected, strict=True)
    )


def _comparable(event: SessionEvent) -> dict[str, Any]:
    fields = event_fields(event)
    fields.pop("hash")
    fields["provenance"] = event.provenance.model_copy(update={"kern_version": None})
    return fields


# -- the plan: what to record, and when ---------------------------------------------


Command = Callable[[SessionAggregate], object]


class Planned(NamedTuple):
    """One command of an import and the moment it is recorded at."""

    moment: datetime
    command: Command


def session_plan(session: AgnoSession, mark: str) -> list[Planned]:
    """The commands that record ``session`` as a Kern log, each with its moment."""
    owner = session.user_id
    marked = Provenance(kern_version=kern_version(), imported_from=mark)
    workflow_data = _object(session.workflow_data, "workflow_data")
    metadata = _object(session.metadata, "metadata")
    name = workflow_data.get("name") if workflow_data is not None else None
    created = _moment(session.created_at)
    plan = [
        Planned(
            created,
            lambda a: a.start(
                user_id=owner,
                workflow_id=session.workflow_id,
                workflow_name=name if isinstance(name, str) else None,
                workflow_data=workflow_data,
                metadata=metadata,
                provenance=marked,
            ),
        )
    ]
    for run in session.runs:
        written = session.runs_updated_at.get(str(run.get("run_id")))
        plan += _run_plan(run, written, owner, marked, created)
    last = plan[-1].moment
    updated = _moment(session.updated_at) if session.updated_at is not None else last
    data = _object(session.session_data, "session_data") or {}
    session_name = data.get("session_name")
    if session_name:
        plan.append(
            Planned(
                updated,
                lambda a: a.rename(
                    user_id=owner, session_name=session_name, autogenerated=False, provenance=marked
                ),
            )
        )
    state = _object(data.get("session_state"), "session_state") or {}
    plan.append(
        Planned(
            updated,
            lambda a: a.update_state(
                user_id=owner, changes=StateChanges.between(a.state, state), provenance=marked
            ),
        )
    )
    return plan


def _run_plan(
    run: dict[str, Any],
    written: int | None,
    owner: str | None,
    marked: Provenance,
    floor: datetime,
) -> list[Planned]:
    run_id = run.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"a run without a run_id: {_short(run)}")
    user = run.get("user_id", owner)
    metadata = run.get("metadata")
    provenance = (
        marked.model_copy(update={"metadata": metadata}) if metadata is not None else marked
    )
    started = max(_moment(run.get("created_at")), floor)
    common: dict[str, Any] = {"run_id": run_id, "user_id": user, "provenance": provenance}
    plan = [
        Planned(
            started,
            lambda a: a.start_run(
                input=StoredValue.of(run.get("input"), what="a run's input"),
                session_state=a.state,
                workflow_id=run.get("workflow_id"),
                workflow_name=run.get("workflow_name"),
                **common,
            ),
        )
    ]
    executors = {
        executor["run_id"]: executor
        for executor in run.get("step_executor_runs") or []
        if isinstance(executor, dict) and executor.get("run_id") is not None
    }
    elapsed = 0.0
    for result in flat_step_results(run.get("step_results") or []):
        elapsed += _duration(result.get("metrics"))
        fields = _step_fields(result, executors.get(result.get("step_run_id")))
        plan.append(Planned(_after(started, elapsed), _step_command(fields, common)))
    status = _status(run.get("status"))
    if status in TERMINAL_STATUSES:
        duration = _duration(run.get("metrics"))
        ended = _after(started, duration)
        if isinstance(written, int) and not isinstance(written, bool):
            ended = max(ended, _moment(written))
        plan.append(
            Planned(
                ended,
                lambda a: a.complete_run(
                    status=status,
                    content=StoredValue.of(run.get("content"), what="a run's content"),
                    metrics=Metrics(duration=duration),
                    **common,
                ),
            )
        )
    return plan


def flat_step_results(results: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Agno's step results in order, with the lists a Parallel step stores and the
    ``steps`` nested inside a result put in line after it."""
    for result in results:
        if isinstance(result, list):
            yield from flat_step_results(result)
        elif isinstance(result, dict):
            yield result
            yield from flat_step_results(result.get("steps") or [])


def _step_command(fields: dict[str, Any], common: dict[str, Any]) -> Command:
    return lambda a: a.complete_step(**fields, **common)


def _step_fields(result: dict[str, Any], executor: dict[str, Any] | None) -> dict[str, Any]:
    """A StepCompleted's fields from one Agno step result, and the agent's or team's
    run Agno stored for it (the one whose run_id is the result's step_run_id)."""
    agno_type = result.get("step_type")
    executor_type = result.get("executor_type")
    if agno_type in (None, "Step"):
        step_type = executor_type if isinstance(executor_type, str) else "function"
    else:
        step_type = str(agno_type)
    error = result.get("error")
    return {
        "step_name": result.get("step_name"),
        "step_type": step_type,
        "executor_type": executor_type if isinstance(executor_type, str) else step_type,
        "executor_name": result.get("executor_name"),
        "input": NO_INPUT,
        "content": StoredValue.of(result.get("content"), what="a step's content"),
        "success": result.get("success") is not False,
        "error": error if error is None else str(error),
        "metrics": Metrics(duration=_duration(result.get("metrics"))),
        "executor_id": _executor_id(executor),
        "executor_run": _executor_run(executor),
    }


def _executor_id(executor: dict[str, Any] | None) -> str | None:
    found = (executor.get("agent_id") or executor.get("team_id")) if executor else None
    return found if isinstance(found, str) else None


def _executor_run(executor: dict[str, Any] | None) -> ExecutorRun | None:
    """The agent's or team's run inside a step, with its messages as Agno kept them."""
    if executor is None:
        return None
    return ExecutorRun(
        run_id=executor.get("run_id"),
        agent_id=executor.get("agent_id"),
        team_id=executor.get("team_id"),
        status=_status(executor.get("status")),
        messages=[
            ExecutorMessage.model_validate(message)
            for message in executor.get("messages") or []
            if isinstance(message, dict)
        ],
    )


def _object(value: Any, what: str) -> dict[str, Any] | None:
    """``value`` when it is a JSON object or None; ValueError naming ``what`` otherwise
    (Agno keeps a column it could not parse as text)."""
    if value is None or isinstance(value, dict):
        return value
    raise ValueError(f"{what} is not a JSON object: {_short(value)}")


def _status(value: Any) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        return RunStatus.running


def _duration(metrics: Any) -> float:
    value = metrics.get("duration") if isinstance(metrics, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return 0.0


def _moment(unix_seconds: Any) -> datetime:
    if not isinstance(unix_seconds, int | float) or isinstance(unix_seconds, bool):
        raise ValueError(f"a time that is not unix seconds: {unix_seconds!r}")
    return datetime.fromtimestamp(unix_seconds, UTC)


def _after(start: datetime, seconds: float) -> datetime:
    return datetime.fromtimestamp(start.timestamp() + seconds, UTC)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- recording -------------------------------------------------------------------------


class _Clock:
    """The aggregate's clock during an import: the moment of the command at hand."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment


def _apply(aggregate: SessionAggregate, plan: Sequence[Planned]) -> None:
    """Record ``plan`` on a session that does not exist yet, each at its moment."""
    if aggregate.exists:
        raise SessionExistsError(
            f"session {aggregate.session_id!r} already exists; an import never writes into one",
            session_id=aggregate.session_id,
        )
    clock = _Clock()
    aggregate.clock = clock
    try:
        for step in plan:
            clock.moment = step.moment
            step.command(aggregate)
    finally:
        aggregate.clock = None


def _rehearse(session_id: str, plan: Sequence[Planned]) -> list[SessionEvent]:
    """The events ``plan`` records on a new session, written nowhere: checks every
    command before anything is stored, and is what a stored session is compared with."""
    aggregate = SessionAggregate.replay(session_id, [])
    _apply(aggregate, plan)
    return aggregate.take_pending()
