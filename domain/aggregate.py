"""The SessionAggregate: the write model of one session; decides which events a command produces.

It holds just enough state to enforce the invariants (who owns the session,
whether it was deleted, which runs are open, the current session state). It
is the only place that creates events; the caller saves ``pending`` with the
version the aggregate was loaded at, and replays from the store on conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import JsonValue

from kern.domain.encoding import GENESIS_HASH, seal
from kern.domain.errors import (
    InvalidInputError,
    InvalidSessionNameError,
    RunAbandonedError,
    RunAlreadyFinishedError,
    RunAlreadyResumedError,
    RunAlreadyStartedError,
    RunNotFoundError,
    SessionAccessError,
    SessionDeletedError,
    SessionNotFoundError,
)
from kern.domain.events import (
    RunCompleted,
    RunResumed,
    RunStarted,
    SessionDeleted,
    SessionEvent,
    SessionForked,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepAttemptFailed,
    StepCompleted,
)
from kern.domain.identity import check_text, may_access, validate_session_id, validate_user_id
from kern.domain.sealing import DataKey
from kern.domain.values import (
    TERMINAL_STATUSES,
    Metrics,
    Provenance,
    RunStatus,
    StateChanges,
    StoredValue,
    type_tag,
)

E = TypeVar("E", bound=SessionEvent)


KeyFor = Callable[[str, str | None], DataKey]
"""The data key of a session (its id, its owner): made and stored on first use."""


ABANDONED = type_tag(RunAbandonedError("", session_id="", run_id=""))
"""The error_type of an abandoned run's RunCompleted."""


@dataclass
class RunState:
    """Where an open run stands: the index its next step gets, and how many times
    it was resumed (the writers of an earlier resumption may no longer append)."""

    next_step: int = 0
    resumptions: int = 0


def run_key(run_id: str) -> int:
    """The 64-bit digest a finished run is remembered by (:attr:`SessionAggregate.finished`).

    Eight bytes per finished run instead of the run id and its state: what a
    snapshot of a long session must carry to refuse a reused run id. Two ids
    share a digest with a probability of about 2**-64 per pair; such a pair
    would refuse the newer id as already started, never accept a reused one."""
    return int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Checkpoint:
    """What :meth:`SessionAggregate.rollback` restores: the aggregate before a
    decision whose events were not stored."""

    version: int
    owner: str | None
    deleted: bool
    state: dict[str, JsonValue]
    session_name: str | None
    last_timestamp: datetime | None
    last_hash: str
    runs_before: dict[str, RunState | None]


@dataclass
class SessionAggregate:
    """Write model of one session's stream.

    A long-lived instance can follow its stream: :meth:`catch_up` applies
    newer events, and :meth:`checkpoint`/:meth:`rollback` undo a decision
    whose append failed, so a writer never replays the whole stream again.
    """

    session_id: str
    version: int = 0
    owner: str | None = None
    deleted: bool = False
    state: dict[str, JsonValue] = field(default_factory=dict)
    session_name: str | None = None
    last_timestamp: datetime | None = None
    last_hash: str = GENESIS_HASH
    runs: dict[str, RunState] = field(default_factory=dict)
    """The open runs (started, not yet finished)."""
    finished: set[int] = field(default_factory=set)
    """The :func:`run_key` of every finished run."""
    pending: list[SessionEvent] = field(default_factory=list)
    keys: KeyFor | None = field(default=None, repr=False, compare=False)
    """With a keyring: the session's data key (made on first use), which new
    events are sealed with (see :mod:`kern.domain.sealing`)."""
    clock: Callable[[], datetime] | None = field(default=None, repr=False, compare=False)
    """When set, the moment new events are recorded at, instead of now: an
    import keeps the times of the records it reads. Timestamps still never go
    back within a stream."""
    _checkpoint: Checkpoint | None = field(default=None, repr=False, compare=False)

    # -- loading ----------------------------------------------------------

    @classmethod
    def replay(cls, session_id: str, events: Iterable[SessionEvent]) -> SessionAggregate:
        """The aggregate as it stands after ``events`` (possibly none)."""
        session = cls(session_id=validate_session_id(session_id))
        session.catch_up(events)
        return session

    def catch_up(self, events: Iterable[SessionEvent]) -> None:
        """Apply events recorded after this aggregate was loaded (ones it
        already has are skipped)."""
        for event in events:
            if event.version > self.version:
                self._apply(event)

    def checkpoint(self) -> Checkpoint:
        """Remember the aggregate as it is now; commands after this can be undone."""
        self.pending = []
        # The state dict is replaced, never changed in place, so keeping it is enough.
        self._checkpoint = Checkpoint(
            version=self.version,
            owner=self.owner,
            deleted=self.deleted,
            state=self.state,
            session_name=self.session_name,
            last_timestamp=self.last_timestamp,
            last_hash=self.last_hash,
            runs_before={},
        )
        return self._checkpoint

    def rollback(self, checkpoint: Checkpoint) -> None:
        """Undo every command since ``checkpoint`` (their events were not stored)."""
        for name in ("version", "owner", "deleted", "state", "session_name"):
            setattr(self, name, getattr(checkpoint, name))
        self.last_timestamp, self.last_hash = checkpoint.last_timestamp, checkpoint.last_hash
        for run_id, before in checkpoint.runs_before.items():
            # Only open or new runs are recorded against, so none was finished before.
            self.finished.discard(run_key(run_id))
            if before is None:
                self.runs.pop(run_id, None)
            else:
                self.runs[run_id] = before
        self.pending = []
        self._checkpoint = None

    @property
    def exists(self) -> bool:
        """True once the session has been started (and maybe deleted since)."""
        return self.version > 0

    # -- checks ------------------------------------------------------------

    def check_can_write(self, user_id: str | None) -> None:
        """Raise unless ``user_id`` may write to this existing, live session."""
        validate_user_id(user_id)
        if not self.exists:
            raise SessionNotFoundError.of(self.session_id)
        self._check_live_and_owned(user_id)

    def check_can_manage(self, user_id: str | None) -> None:
        """Raise unless ``user_id`` may rename, update or delete this session.

        Another user's session reads exactly as one that does not exist
        (SessionNotFoundError), so these commands reveal nothing about it."""
        validate_user_id(user_id)
        if not self.exists or not may_access(self.owner, user_id):
            raise SessionNotFoundError.of(self.session_id)
        self._check_live_and_owned(user_id)

    def _check_live_and_owned(self, user_id: str | None) -> None:
        if self.deleted:
            raise SessionDeletedError(
                f"session {self.session_id!r} was deleted and accepts no more writes",
                session_id=self.session_id,
            )
        if not may_access(self.owner, user_id):
            raise SessionAccessError(
                f"user {user_id!r} does not own session {self.session_id!r}",
                session_id=self.session_id,
            )

    def _open_run(self, run_id: str) -> RunState:
        run = self.runs.get(run_id)
        if run is None and run_key(run_id) not in self.finished:
            raise RunNotFoundError(
                f"run {run_id!r} was not started in session {self.session_id!r}",
                session_id=self.session_id,
                run_id=run_id,
            )
        if run is None:
            raise RunAlreadyFinishedError(
                f"run {run_id!r} of session {self.session_id!r} has already finished",
                session_id=self.session_id,
                run_id=run_id,
            )
        return run

    # -- commands ------------------------------------------------------------

    def start(
        self,
        *,
        user_id: str | None,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        workflow_data: Mapping[str, JsonValue] | None = None,
        metadata: Mapping[str, JsonValue] | None = None,
        session_state: Mapping[str, JsonValue] | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        """Start the session if it does not exist yet; else check the writer."""
        validate_user_id(user_id)
        check_text(workflow_id, what="workflow_id")
        check_text(workflow_name, what="workflow_name")
        if self.exists:
            self._check_live_and_owned(user_id)
            return
        self._record(
            SessionStarted,
            user_id=user_id,
            workflow_id=workflow_id,
            workflow_name=workflow_name,
            workflow_data=dict(workflow_data) if workflow_data is not None else None,
            metadata=dict(metadata) if metadata is not None else None,
            session_state=dict(session_state or {}),
            provenance=provenance,
        )

    def start_run(
        self,
        *,
        run_id: str,
        user_id: str | None,
        input: StoredValue,
        session_state: Mapping[str, JsonValue],
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        provenance: Provenance | None = None,
    ) -> RunStarted:
        """Record that a run began, with its input and the state its steps start from."""
        self.check_can_write(user_id)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
        check_text(run_id, what="run_id")
        if run_id in self.runs or run_key(run_id) in self.finished:
            raise RunAlreadyStartedError(
                f"run {run_id!r} was already started in session {self.session_id!r}",
                session_id=self.session_id,
                run_id=run_id,
            )
        return self._record(
            RunStarted,
            run_id=run_id,
            user_id=user_id,
            input=input,
            session_state=dict(session_state),
            workflow_id=workflow_id,
            workflow_name=workflow_name,
            provenance=provenance,
        )

    def resume_run(
        self,
        *,
        run_id: str,
        user_id: str | None,
        seen: RunState,
        provenance: Provenance | None = None,
    ) -> RunResumed:
        """Record that the open run goes on from its next step, in a new writer.

        ``seen`` is the run as the resumer read it, open: when the run has moved
        since (another resumer won, its writer is still alive and appended a
        step, or it even finished), RunAlreadyResumedError and nothing is
        recorded. Another user's session reads as a missing one
        (SessionNotFoundError)."""
        self.check_can_manage(user_id)
        run = self.runs.get(run_id) if run_key(run_id) in self.finished else self._open_run(run_id)
        if run != seen:
            raise RunAlreadyResumedError(
                f"run {run_id!r} of session {self.session_id!r} was resumed, or written "
                f"to, by another writer since it was read (it now stands at "
                f"{run or 'its end'}): only one writer continues a run",
                session_id=self.session_id,
                run_id=run_id,
            )
        return self._record(
            RunResumed,
            run_id=run_id,
            user_id=user_id,
            step_index=run.next_step,
            resumption=run.resumptions + 1,
            provenance=provenance,
        )

    def _check_writer(self, run_id: str, run: RunState, resumption: int | None) -> None:
        """RunAlreadyResumedError when a writer of resumption ``resumption`` (None:
        not checked) writes to a run resumed since by another."""
        if resumption is not None and run.resumptions != resumption:
            raise RunAlreadyResumedError(
                f"run {run_id!r} of session {self.session_id!r} was resumed by another "
                f"writer (resumption {run.resumptions}); this writer, of resumption "
                f"{resumption}, may no longer append to it",
                session_id=self.session_id,
                run_id=run_id,
            )

    def complete_step(
        self,
        *,
        run_id: str,
        user_id: str | None,
        resumption: int | None = None,
        **fields: Any,
    ) -> StepCompleted:
        """Record one finished step of an open run (fields as StepCompleted); a
        writer that gives its ``resumption`` is refused once another resumed the run.

        ``path`` (for a step inside a step primitive) must lie under the
        run's next top-level step: ``"2.1"`` while step 2 (index 1) runs."""
        self.check_can_write(user_id)
        run = self._open_run(run_id)
        self._check_writer(run_id, run, resumption)
        path = fields.get("path", "")
        parts = path.split(".") if isinstance(path, str) else None
        if path and (
            parts is None
            or len(parts) < 2
            or not all(p.isascii() and p.isdigit() and p[0] != "0" for p in parts)
            or int(parts[0]) != run.next_step + 1
        ):
            raise InvalidInputError(
                f"step path {path!r} is not an inner step of step {run.next_step + 1} "
                f"of run {run_id!r} (a dotted path under it, like '{run.next_step + 1}.1')"
            )
        return self._record(
            StepCompleted, run_id=run_id, user_id=user_id, step_index=run.next_step, **fields
        )

    def fail_step_attempt(
        self, *, run_id: str, user_id: str | None, **fields: Any
    ) -> StepAttemptFailed:
        """Record a failed attempt of the next step of an open run (fields as
        StepAttemptFailed); the run's next step index does not move."""
        self.check_can_write(user_id)
        run = self._open_run(run_id)
        return self._record(
            StepAttemptFailed, run_id=run_id, user_id=user_id, step_index=run.next_step, **fields
        )

    def complete_run(
        self,
        *,
        run_id: str,
        user_id: str | None,
        status: RunStatus,
        content: StoredValue,
        error: str | None = None,
        metrics: Metrics | None = None,
        state_changes: StateChanges | None = None,
        provenance: Provenance | None = None,
        error_type: str | None = None,
        traceback: str | None = None,
        refs: dict[str, list[str]] | None = None,
        resumption: int | None = None,
    ) -> RunCompleted:
        """Record the terminal event of an open run (``resumption`` as in
        :meth:`complete_step`)."""
        self.check_can_write(user_id)
        self._check_writer(run_id, self._open_run(run_id), resumption)
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"a run cannot end with status {status}")
        return self._record(
            RunCompleted,
            run_id=run_id,
            user_id=user_id,
            status=status,
            content=content,
            error=error,
            metrics=metrics or Metrics(),
            state_changes=state_changes or StateChanges(),
            provenance=provenance,
            error_type=error_type,
            traceback=traceback,
            refs=refs or {},
        )

    def abandon_run(
        self,
        *,
        run_id: str,
        user_id: str | None,
        reason: str,
        provenance: Provenance | None = None,
    ) -> RunCompleted:
        """End an open run that will not be resumed: RunCompleted CANCELLED, with
        ``reason`` as its error and ``ABANDONED`` as its error_type. What its
        steps did to the session state does not take effect (as for a run a
        fork leaves open). Another user's session reads as a missing one."""
        self.check_can_manage(user_id)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(f"reason must be a non-empty string, got {reason!r}")
        check_text(reason, what="reason")
        return self.complete_run(
            run_id=run_id,
            user_id=user_id,
            status=RunStatus.cancelled,
            content=StoredValue.of(None),
            error=reason,
            error_type=ABANDONED,
            provenance=provenance,
        )

    def rename(
        self,
        *,
        user_id: str | None,
        session_name: str,
        autogenerated: bool,
        provenance: Provenance | None = None,
    ) -> None:
        """Give the session a name."""
        self.check_can_manage(user_id)
        check_text(session_name, what="session_name", error=InvalidSessionNameError)
        self._record(
            SessionRenamed,
            user_id=user_id,
            session_name=session_name,
            autogenerated=autogenerated,
            provenance=provenance,
        )

    def update_state(
        self, *, user_id: str | None, changes: StateChanges, provenance: Provenance | None = None
    ) -> None:
        """Change the session state outside a run; no event when nothing changes."""
        self.check_can_manage(user_id)
        if changes:
            self._record(
                SessionStateUpdated, user_id=user_id, changes=changes, provenance=provenance
            )

    def delete(self, *, user_id: str | None, provenance: Provenance | None = None) -> None:
        """Append the tombstone."""
        self.check_can_manage(user_id)
        self._record(SessionDeleted, user_id=user_id, provenance=provenance)

    def record_fork(
        self,
        *,
        user_id: str | None,
        source_session_id: str,
        source_version: int,
        source_hash: str,
        provenance: Provenance | None = None,
    ) -> SessionForked:
        """Mark this session, holding copied history, as a fork of another."""
        self.check_can_write(user_id)
        return self._record(
            SessionForked,
            user_id=user_id,
            source_session_id=source_session_id,
            source_version=source_version,
            source_hash=source_hash,
            provenance=provenance,
        )

    # -- recording and applying ------------------------------------------------

    def _record(self, cls: type[E], *, provenance: Provenance | None = None, **fields: Any) -> E:
        now = self.clock() if self.clock is not None else datetime.now(UTC)
        if self.last_timestamp is not None and now < self.last_timestamp:
            now = self.last_timestamp  # keep a stream's timestamps non-decreasing
        unsealed = cls(
            session_id=self.session_id,
            version=self.version + 1,
            timestamp=now,
            provenance=provenance or Provenance(),
            **fields,
        )
        key = None
        if self.keys is not None:
            owner = unsealed.user_id if isinstance(unsealed, SessionStarted) else self.owner
            key = self.keys(self.session_id, owner)
        event = seal(unsealed, self.last_hash, key)
        run_id = getattr(event, "run_id", None)
        if self._checkpoint is not None and isinstance(run_id, str):
            before = self.runs.get(run_id)
            self._checkpoint.runs_before.setdefault(run_id, replace(before) if before else None)
        self._apply(event)
        self.pending.append(event)
        return event

    def _apply(self, event: SessionEvent) -> None:
        self.version = event.version
        self.last_timestamp = event.timestamp
        self.last_hash = event.hash
        if isinstance(event, SessionStarted):
            self.owner = event.user_id
            self.state = dict(event.session_state)
        elif isinstance(event, RunStarted):
            self.runs[event.run_id] = RunState()
        elif isinstance(event, StepCompleted):
            if event.is_top_level:  # inner steps share their top-level step's index
                self.runs[event.run_id].next_step += 1
        elif isinstance(event, RunResumed):
            self.runs[event.run_id].resumptions = event.resumption
        elif isinstance(event, RunCompleted):
            del self.runs[event.run_id]
            self.finished.add(run_key(event.run_id))
            self.state = event.state_changes.apply_to(self.state)
        elif isinstance(event, SessionRenamed):
            self.session_name = event.session_name
        elif isinstance(event, SessionStateUpdated):
            self.state = event.changes.apply_to(self.state)
        elif isinstance(event, SessionDeleted):
            self.deleted = True

    def take_pending(self) -> list[SessionEvent]:
        """The events recorded since the last call, in order."""
        events, self.pending = self.pending, []
        return events
