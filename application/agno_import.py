"""Importing Agno's workflow sessions: each one becomes a Kern session log.

An Agno database keeps a workflow session as one row of its sessions table
(owner, workflow, ``session_data`` with the name and the state, created_at
and updated_at in unix seconds) and its runs as rows of the runs table (or,
before Agno 3, as a JSON list on the session row). A reader in
``kern.adapters.agno`` reads them as :class:`AgnoSession` records, and
:mod:`kern.application.agno_plan` turns each record into the events Kern
would have recorded, at Agno's times:

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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from kern.application import unit_of_work
from kern.application.agno_plan import AgnoSession, apply_plan, rehearse, session_plan
from kern.application.ports import SessionStore
from kern.domain.errors import KernError, SessionExistsError
from kern.domain.events import SessionEvent, event_fields

Progress = Callable[[int, int], None]
"""Called with (sessions done, sessions in the source) as the import advances."""


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
        expected = rehearse(sid, plan)
    except (KernError, ValueError, TypeError) as exc:
        report.refused.append(SessionProblem(sid, str(exc)))
        return
    if _compare(store, sid, expected, report):
        return
    try:
        done = unit_of_work.execute(store, sid, lambda aggregate: apply_plan(aggregate, plan))
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
