"""KernDb: the session API every store offers (SqliteDb, InMemoryDb, PostgresDb).

Reads fold the session's events into read models (:mod:`kern.projections`);
commands run through the unit of work (:mod:`kern.application.unit_of_work`);
time travel, forks and audit are delegated to their own use-case modules. A
KernDb holds a store behind the port (:mod:`kern.application.ports`) and
never builds one: ``kern.db`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kern.application import (
    agno_import,
    audit,
    erasure,
    forks,
    privacy,
    read_model,
    timetravel,
    unit_of_work,
)
from kern.application import anchors as anchoring
from kern.application.keys import Keyring
from kern.application.ports import FeedEntry, FeedPosition, SessionStore
from kern.application.provenance import kern_version, provenance
from kern.application.unit_of_work import Executed
from kern.domain.aggregate import SessionAggregate
from kern.domain.anchors import SignedAnchors
from kern.domain.chain import VerifyReport
from kern.domain.erasure import ErasureEntry
from kern.domain.errors import (
    InvalidInputError,
    InvalidQueryError,
    InvalidSessionIdError,
    InvalidSessionNameError,
    KeyringError,
    RunNotFoundError,
    SessionNotFoundError,
    UserRequiredError,
)
from kern.domain.events import EVENT_CLASSES, SessionEvent
from kern.domain.identity import check_text, may_access, validate_session_id, validate_user_id
from kern.domain.values import AsOf, StateChanges, to_json_value
from kern.projections.fold import project_session
from kern.projections.listing import MAX_LIMIT, DeletedSession, SessionQuery
from kern.projections.log import LogEntry, StepView, log_entries, step_view
from kern.projections.open_runs import InterruptedRun
from kern.projections.replay_diff import RecordedRun
from kern.projections.run_diff import RunDiff, diff_runs
from kern.projections.runs import WorkflowRunOutput
from kern.projections.session import WorkflowSession

T = TypeVar("T")

INTERRUPTED_AFTER = timedelta(minutes=10)
"""How long a RUNNING run has been still (no event) before get_interrupted_runs
counts it as interrupted, unless told otherwise: far longer than a step takes."""


class KernDb:
    """Sessions on one store. Safe to share across threads."""

    blocking = True
    """Whether a call may block its thread on I/O."""

    def __init__(self, store: SessionStore, *, strict_users: bool = False) -> None:
        if not isinstance(strict_users, bool):
            raise InvalidInputError(f"strict_users must be True or False, got {strict_users!r}")
        self.store = store
        self.strict_users = strict_users

    def user(self, user_id: object) -> str | None:
        """``user_id`` checked, as every call that takes one checks it: a string
        every store can keep, or None for an unscoped call, which a store opened
        with ``strict_users=True`` refuses (UserRequiredError): there a code path
        that forgets the user cannot act as everyone."""
        checked = validate_user_id(user_id)
        if checked is None and self.strict_users:
            raise UserRequiredError(
                "this store was opened with strict_users=True: every call must name "
                "the user_id it acts for"
            )
        return checked

    def _admin(self, what: str) -> None:
        """Refuse an unscoped, admin-only operation on a strict_users store."""
        if self.strict_users:
            raise UserRequiredError(
                f"{what} reads or writes every user's sessions: it is an admin operation, "
                "refused on a store opened with strict_users=True (open another store "
                "object without it for admin tools)"
            )

    # -- writing ---------------------------------------------------------------

    def load(self, session_id: str) -> SessionAggregate:
        """The write model of ``session_id`` (version 0 when it does not exist)."""
        session_id = validate_session_id(session_id)
        return self.load_from(session_id, self.store.read(session_id))

    @staticmethod
    def load_from(session_id: str, events: Sequence[SessionEvent]) -> SessionAggregate:
        """The write model from events already read."""
        return SessionAggregate.replay(session_id, events)

    def execute(self, session_id: str, decide: Callable[[SessionAggregate], T]) -> Executed[T]:
        """Run ``decide`` on the session's write model and append what it recorded,
        deciding again when another writer got there first (see
        :mod:`kern.application.unit_of_work`)."""
        return unit_of_work.execute(self.store, session_id, decide)

    # -- reading ---------------------------------------------------------------

    def get_events(self, session_id: str, user_id: str | None = None) -> list[SessionEvent]:
        """The session's whole event log, in order ([] if not visible to the user)."""
        session_id = validate_session_id(session_id)
        self.user(user_id)
        if not timetravel.owned_by(self.store, session_id, user_id):
            return []
        return self.store.read(session_id)

    def read_feed(self, after: FeedPosition | None = None, limit: int = 1000) -> list[FeedEntry]:
        """Every session's events in one fixed order, ``limit`` at a time after
        ``after`` (a position from the last page): a follower that pages
        through it sees every event once, each session in version order, even
        while writers append. Unscoped: it is for auditors and projections (an
        admin operation, refused on a strict_users store).

        InvalidQueryError for a ``limit`` outside 1..MAX_LIMIT or an ``after``
        that is not a position (two non-negative 64-bit ints)."""
        self._admin("read_feed")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidQueryError(
                f"limit must be a positive int of at most {MAX_LIMIT} (MAX_LIMIT), got {limit!r}"
            )
        return self.store.read_feed(_feed_position(after), limit)

    def get_session(
        self, session_id: str, user_id: str | None = None, *, as_of: AsOf | None = None
    ) -> WorkflowSession | None:
        """The session read model; None when absent, deleted or owned by another user.

        ``as_of`` (a version, datetime or run_id) gives the session as it stood
        then; a deleted session is readable as of a point before its tombstone.
        """
        session_id = validate_session_id(session_id)
        self.user(user_id)
        upto = None
        if as_of is not None:
            if not timetravel.owned_by(self.store, session_id, user_id):
                return None
            upto = self.resolve_as_of(session_id, as_of)
        session = read_model.read_session(self.store, session_id, upto)
        if session is None or not may_access(session.user_id, user_id):
            return None
        return session

    def require_session(self, session_id: str, user_id: str | None = None) -> WorkflowSession:
        """Like :meth:`get_session`, but SessionNotFoundError instead of None."""
        session = self.get_session(session_id, user_id)
        if session is None:
            raise SessionNotFoundError.of(session_id)
        return session

    def get_sessions(
        self,
        user_id: str | None = None,
        workflow_id: str | None = None,
        session_name: str | None = None,
        start_timestamp: float | None = None,
        end_timestamp: float | None = None,
        limit: int | None = None,
        page: int | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[WorkflowSession]:
        """Live sessions matching the filters, found through the listing index.

        ``session_name`` is a case-insensitive substring of the name; the time
        range applies to created_at (unix seconds, both ends inclusive); page
        is 1-based and needs limit; sort_by defaults to created_at, sort_order
        to "desc".
        """
        if user_id is None:
            self.user(user_id)  # only the strict_users check: SessionQuery checks the rest
        # The arguments are the query's fields: SessionQuery checks them all.
        query = SessionQuery.build(**{k: v for k, v in locals().items() if k != "self"})
        sessions = []
        for row in self.store.list_sessions(query):
            session = project_session(self.store.read(row.session_id, upto=row.version))
            if session is not None:
                sessions.append(session)
        return sessions

    def get_deleted_sessions(
        self,
        user_id: str | None = None,
        workflow_id: str | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> list[DeletedSession]:
        """Deleted sessions, most recently deleted first, from the listing index:
        with ``user_id``, only that user's. Each one's log stays readable
        (:meth:`get_log`, or :meth:`get_session` as of a point before the tombstone).
        ``page`` is 1-based and needs ``limit``."""
        if user_id is None:
            self.user(user_id)  # only the strict_users check: SessionQuery checks the rest
        query = SessionQuery.build(
            user_id=user_id,
            workflow_id=workflow_id,
            limit=limit,
            page=page,
            sort_by="updated_at",
            deleted=True,
        )
        return [DeletedSession.of(row) for row in self.store.list_sessions(query)]

    # -- session commands ------------------------------------------------------------

    def rename_session(
        self,
        session_id: str,
        session_name: str,
        user_id: str | None = None,
        *,
        autogenerated: bool = False,
        correlation_id: str | None = None,
    ) -> WorkflowSession | None:
        """Record SessionRenamed and return the renamed session; None, with nothing
        written, when there is no such session or another user owns it (as Agno)."""
        self.user(user_id)
        if not isinstance(session_name, str) or not session_name:
            raise InvalidSessionNameError(
                f"session_name must be a non-empty string, got {session_name!r}"
            )
        try:
            self.execute(
                session_id,
                lambda s: s.rename(
                    user_id=user_id,
                    session_name=session_name,
                    autogenerated=autogenerated,
                    provenance=provenance(correlation_id=correlation_id),
                ),
            )
        except SessionNotFoundError:
            return None
        return self.get_session(session_id, user_id)

    def update_session_state(
        self,
        session_id: str,
        updates: Mapping[str, Any],
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Set the given keys of the session state; returns the new state."""
        self.user(user_id)
        if not isinstance(updates, Mapping):
            raise InvalidInputError(
                f"session state updates must be a dict, got {type(updates).__name__}"
            )
        values = to_json_value(dict(updates), what="session state")
        assert isinstance(values, dict)

        def decide(session: SessionAggregate) -> dict[str, Any]:
            session.check_can_manage(user_id)
            before = session.state
            changes = StateChanges.between(before, {**before, **values})
            session.update_state(
                user_id=user_id,
                changes=changes,
                provenance=provenance(correlation_id=correlation_id),
            )
            return dict(session.state)

        return self.execute(session_id, decide).result

    def save_session(
        self,
        session: WorkflowSession,
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> WorkflowSession:
        """Record what ``session`` (a read model, changed by hand) changed of the
        stored session's name and state, as Agno's ``save_session`` stores them:
        a SessionRenamed and a SessionStateUpdated, in one commit, nothing when
        neither changed. Runs, metadata and workflow data are what the log
        recorded and are not written from the object. Returns the session as
        stored. SessionNotFoundError when it is not the user's (``user_id``, else
        the session's own ``user_id``); SessionDeletedError once deleted."""
        if not isinstance(session, WorkflowSession):
            raise InvalidInputError(
                f"save_session takes a WorkflowSession, got {type(session).__name__}"
            )
        session_id = validate_session_id(session.session_id)
        user_id = self.user(session.user_id if user_id is None else user_id)
        name = session.session_name
        state = to_json_value(dict(session.session_state), what="session state")
        assert isinstance(state, dict)
        stamp = provenance(correlation_id=correlation_id)

        def decide(stored: SessionAggregate) -> None:
            stored.check_can_manage(user_id)
            if name and name != (stored.session_name or ""):
                stored.rename(
                    user_id=user_id, session_name=name, autogenerated=False, provenance=stamp
                )
            changes = StateChanges.between(stored.state, state)
            stored.update_state(user_id=user_id, changes=changes, provenance=stamp)

        self.execute(session_id, decide)
        return self.require_session(session_id, user_id)

    def delete_session(
        self, session_id: str, user_id: str | None = None, *, correlation_id: str | None = None
    ) -> bool:
        """Append the tombstone; False when there was no live session of the user's
        to delete (another user's session is left alone, as if it did not exist)."""
        session_id = validate_session_id(session_id)
        self.user(user_id)

        def decide(session: SessionAggregate) -> bool:
            if not session.exists or session.deleted or not may_access(session.owner, user_id):
                return False
            session.delete(user_id=user_id, provenance=provenance(correlation_id=correlation_id))
            return True

        return self.execute(session_id, decide).result

    def delete_sessions(
        self,
        session_ids: Sequence[str],
        user_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> int:
        """Delete each of ``session_ids`` that is the user's (as Agno's bulk delete);
        returns how many were deleted. Every id is checked before any is deleted."""
        if isinstance(session_ids, str) or not isinstance(session_ids, Sequence):
            raise InvalidSessionIdError(
                f"session_ids must be a list of session ids, got {type(session_ids).__name__}"
            )
        ids = [validate_session_id(session_id) for session_id in session_ids]
        self.user(user_id)
        return sum(
            self.delete_session(session_id, user_id, correlation_id=correlation_id)
            for session_id in ids
        )

    # -- runs left open (kern.application.runner.resume) --------------------------------

    def get_interrupted_runs(
        self,
        older_than: timedelta = INTERRUPTED_AFTER,
        user_id: str | None = None,
        *,
        run_id: str | None = None,
    ) -> list[InterruptedRun]:
        """Runs still RUNNING whose last event is older than ``older_than``: most
        likely left so by a process that stopped mid-run. Resume each one
        (``workflow.resume``) or abandon it (:meth:`abandon_run`). Read from the
        open-runs index, oldest first; with ``user_id``, only that user's
        sessions' (unscoped, every user's: refused on a strict_users store);
        with ``run_id``, only runs of that id. InvalidQueryError for an
        ``older_than`` that is not a timedelta of zero or more."""
        self.user(user_id)
        check_text(run_id, what="run_id", error=InvalidQueryError)
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise InvalidQueryError(
                f"older_than must be a timedelta of zero or more, got {older_than!r}"
            )
        try:
            cutoff = (datetime.now(UTC) - older_than).timestamp()
        except OverflowError:
            return []  # older than any time a datetime can hold
        return self.store.open_runs(cutoff, user_id=user_id, run_id=run_id)

    def abandon_run(
        self,
        run_id: str,
        session_id: str,
        *,
        reason: str,
        user_id: str | None = None,
        correlation_id: str | None = None,
    ) -> WorkflowRunOutput:
        """End a RUNNING run that will not be resumed: recorded CANCELLED with
        ``reason`` as its error (``error_type`` RunAbandonedError; the state its
        steps changed does not take effect); returns the run as now recorded.

        SessionNotFoundError for a session that is missing or another user's,
        RunNotFoundError for a run it never started, RunAlreadyFinishedError for
        one that ended, InvalidInputError for an empty reason; nothing is
        written then."""
        session_id = validate_session_id(session_id)
        self.user(user_id)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(f"reason must be a non-empty string, got {reason!r}")
        self.execute(
            session_id,
            lambda s: s.abandon_run(
                run_id=run_id,
                user_id=user_id,
                reason=reason,
                provenance=provenance(correlation_id=correlation_id),
            ),
        )
        run = self.require_session(session_id, user_id).get_run(run_id)
        assert run is not None
        return run

    # -- time travel (kern.application.timetravel) ---------------------------------

    def get_log(
        self,
        session_id: str,
        user_id: str | None = None,
        *,
        as_of: AsOf | None = None,
        after: int | None = None,
        limit: int | None = None,
        event_types: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> list[LogEntry]:
        """The session's event log, in order, up to ``as_of`` ([] if not visible
        to the user). Deleted sessions' logs stay readable, for audit.

        ``after`` (a version) and ``limit`` page through it: at most ``limit``
        entries of versions above ``after``. ``event_types`` (names such as
        "StepCompleted") and ``run_id`` keep only those events: a run's are
        found from where the run starts, not by reading the whole log.
        InvalidQueryError for a negative ``after``, a ``limit`` outside
        1..MAX_LIMIT or an unknown event type; RunNotFoundError for a run the
        session never started."""
        session_id = validate_session_id(session_id)
        self.user(user_id)
        start = _log_after(after)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT
        ):
            raise InvalidQueryError(
                f"limit must be a positive int of at most {MAX_LIMIT} (MAX_LIMIT), got {limit!r}"
            )
        types = _event_types(event_types)
        if run_id is not None and not isinstance(run_id, str):
            raise InvalidQueryError(f"run_id must be a string, got {type(run_id).__name__}")
        if not timetravel.owned_by(self.store, session_id, user_id):
            return []
        upto = None if as_of is None else self.resolve_as_of(session_id, as_of)
        if run_id is not None:
            span = self.store.run_span(session_id, run_id)
            if span is None:
                raise RunNotFoundError.of(session_id, run_id)
            start = max(start, span[0] - 1)
            if span[1] is not None:
                upto = span[1] if upto is None else min(upto, span[1])
        filtered = types is not None or run_id is not None
        if limit is not None and not filtered and (upto is None or upto > start + limit):
            upto = start + limit
        if upto is not None and upto <= start:
            return []
        entries = log_entries(self.store.read(session_id, after=start, upto=upto))
        if filtered:
            entries = [
                entry
                for entry in entries
                if (types is None or entry.event_type in types)
                and (run_id is None or entry.run_id == run_id)
            ]
        return entries if limit is None else entries[:limit]

    def head_version(self, session_id: str, user_id: str | None = None) -> int | None:
        """The version of the session's last event; None when there is no such
        session or the user may not read it. A deleted session's head is its
        tombstone."""
        session_id = validate_session_id(session_id)
        self.user(user_id)
        if not timetravel.owned_by(self.store, session_id, user_id):
            return None
        return self.store.indexed_version(session_id)

    def resolve_as_of(self, session_id: str, as_of: AsOf) -> int:
        """The version ``as_of`` (version, datetime or run_id) names; InvalidAsOfError if none."""
        return timetravel.resolve_as_of(self.store, validate_session_id(session_id), as_of)

    def get_step_view(
        self, session_id: str, run_id: str, step: int | str, user_id: str | None = None
    ) -> StepView:
        """What step ``step`` of run ``run_id`` received, started with and returned,
        as recorded: a top-level step by its index, any step by its name or by its
        path in the run's tree ("2.1.3" inside step primitives)."""
        session_id = validate_session_id(session_id)
        timetravel.require_visible(self.store, session_id, self.user(user_id))
        # Only the run's own stretch of the log: the cached run history knows where it is.
        span = self.store.run_span(session_id, run_id)
        events = self.store.read(session_id, after=span[0] - 1, upto=span[1]) if span else []
        return step_view(events, session_id, run_id, step)

    def diff_runs(
        self,
        session_id: str,
        run_a: str,
        run_b: str,
        user_id: str | None = None,
        *,
        session_b: str | None = None,
    ) -> RunDiff:
        """Run ``run_a`` against run ``run_b`` step by step: what changed in inputs,
        outputs, state and status (:mod:`kern.projections.run_diff`). ``run_b`` is
        of ``session_b`` when given (a fork against its original, say), else of
        ``session_id``. SessionNotFoundError for a session the user may not read,
        RunNotFoundError for a run the session never started; nothing is written."""
        user_id = self.user(user_id)
        recorded = []
        for session, run_id in ((session_id, run_a), (session_b or session_id, run_b)):
            session = validate_session_id(session)
            if not isinstance(run_id, str):
                raise InvalidInputError(f"run_id must be a string, got {type(run_id).__name__}")
            timetravel.require_visible(self.store, session, user_id)
            span = self.store.run_span(session, run_id)
            if span is None:
                raise RunNotFoundError.of(session, run_id)
            events = self.store.read(session, after=span[0] - 1, upto=span[1])
            found = RecordedRun.find(events, run_id)
            assert found is not None
            recorded.append(found)
        return diff_runs(*recorded)

    # -- forks (kern.application.forks) ----------------------------------------------

    def fork_session(
        self,
        session_id: str,
        *,
        at: AsOf,
        new_session_id: str | None = None,
        user_id: str | None = None,
        correlation_id: str | None = None,
    ) -> WorkflowSession:
        """A new session whose history is ``session_id``'s up to ``at`` (a version,
        datetime, or run_id: just before that run), ending in SessionForked.

        The new session gets ``new_session_id`` (a uuid4 when None; SessionExistsError
        if taken); the original is only read. Runs open at that point end CANCELLED
        on the fork.
        """
        events = forks.fork_session(
            self.store,
            validate_session_id(session_id),
            at=at,
            resolve=self.resolve_as_of,
            new_session_id=new_session_id,
            user_id=self.user(user_id),
            provenance=provenance(correlation_id=correlation_id),
        )
        session = project_session(events)
        assert session is not None  # a fork never copies a tombstone
        return session

    # -- audit: verify, export, import (kern.application.audit) -----------------------

    def verify(
        self,
        session_id: str | None = None,
        *,
        progress: audit.Progress | None = None,
        anchors: anchoring.Anchors | None = None,
        public_key: Ed25519PublicKey | None = None,
        user_id: str | None = None,
    ) -> VerifyReport:
        """Check the hash chain of one session (or every session, deleted ones
        too) from the records as stored, and its listing row against the log;
        the report names the first bad version.

        With ``user_id``, only that user's sessions: another user's session_id
        raises SessionNotFoundError, as if it did not exist.

        With ``anchors`` (signed by :meth:`anchor`) and the signer's
        ``public_key``, also fail every session whose log no longer reaches its
        anchored head: truncated, rewritten, or gone. A signature that does not
        verify raises AnchorSignatureError before anything is checked. Anchors
        cover every user's sessions, so that check is an admin operation: it
        takes no ``user_id``."""
        user_id = self.user(user_id)
        trusted = None
        if anchors is not None or public_key is not None:
            if anchors is None or public_key is None:
                raise InvalidInputError("verify needs both anchors and public_key, or neither")
            if user_id is not None:
                raise InvalidInputError(
                    "verify against anchors checks every user's sessions: call it without user_id"
                )
            trusted = anchoring.trusted(anchors, public_key)
        try:
            report = audit.verify(self.store, session_id, progress, user_id)
        except SessionNotFoundError:
            # An anchored session that is gone is a finding, not a lookup error.
            if trusted is None or session_id is None or trusted.head(session_id) is None:
                raise
            report = VerifyReport([])
        if trusted is None:
            return report
        return anchoring.check(self.store, report, trusted, session_id)

    def anchor(self, private_key: Ed25519PrivateKey) -> SignedAnchors:
        """Every session's head (last version and its hash), signed with
        ``private_key``: keep it outside the database, and pass it to
        :meth:`verify` later with the public key. An admin operation (it reads
        every user's sessions), refused on a strict_users store."""
        self._admin("anchor")
        return anchoring.anchor(self.store, private_key)

    def export(
        self,
        session_id: str | None = None,
        *,
        progress: audit.Progress | None = None,
        user_id: str | None = None,
        keys: bool = False,
    ) -> Iterator[str]:
        """One session (or all, oldest first) as JSON lines, one per stored event.

        With ``user_id``, only that user's sessions: another user's session_id
        raises SessionNotFoundError, as if it did not exist. On a store with a
        keyring, the lines hold the sealed values as ciphertext; with ``keys``,
        each sealed session's data keys come first, still wrapped by the master
        key, so :meth:`import_lines` can store them in another store."""
        if not isinstance(keys, bool):
            raise InvalidInputError(f"keys must be True or False, got {type(keys).__name__}")
        return audit.export(self.store, session_id, progress, self.user(user_id), keys=keys)

    def export_otel(
        self,
        session_id: str | None = None,
        *,
        user_id: str | None = None,
        include_content: bool = False,
    ) -> dict[str, Any]:
        """One session's runs (or every session's, chosen as :meth:`export` chooses
        them) as OpenTelemetry spans: an OTLP/JSON ExportTraceServiceRequest, to
        POST to a collector's ``/v1/traces``. The same log always gives the same
        ids and the same output; inputs, outputs and error messages are left out
        unless ``include_content`` (see :mod:`kern.projections.otel`).

        With ``user_id``, only that user's sessions: another user's session_id
        raises SessionNotFoundError, as if it did not exist."""
        user_id = self.user(user_id)
        if not isinstance(include_content, bool):
            raise InvalidInputError(
                f"include_content must be True or False, got {type(include_content).__name__}"
            )
        return audit.export_otel(
            self.store,
            session_id,
            user_id,
            include_content=include_content,
            kern_version=kern_version(),
        )

    def import_lines(
        self,
        lines: Iterable[str],
        *,
        progress: audit.Progress | None = None,
        skip_existing: bool = False,
        keyring: Keyring | None = None,
    ) -> audit.ImportReport:
        """Import exported lines, all in one transaction or nothing: every line
        must parse, every chain verify and every log be one Kern could have
        written (InvalidInputError, LogIntegrityError, naming the line), and no
        session may exist (SessionExistsError). With ``skip_existing``, a
        session stored with exactly the same records is skipped and reported.

        Encrypted sessions need the data keys ``export(keys=True)`` writes: they
        are stored with the events (rewrapped by this store's master key when
        the lines' are another's: pass that ``keyring``), and keys the source
        had destroyed are recorded as erased here too (KeyringError without a
        keyring here or when a key does not unwrap; InvalidInputError when a
        sealed session comes without its key).

        An admin operation: it takes no ``user_id``, and the imported sessions
        keep the owners their logs name. Give it only to whoever may write
        every user's sessions; a strict_users store refuses it."""
        self._admin("import")
        if not isinstance(skip_existing, bool):
            raise InvalidInputError(
                f"skip_existing must be True or False, got {type(skip_existing).__name__}"
            )
        if keyring is not None and not isinstance(keyring, Keyring):
            raise KeyringError(
                f"keyring must be a kern.crypto.Keyring, got {type(keyring).__name__}"
            )
        return audit.import_lines(
            self.store, lines, progress, skip_existing=skip_existing, keyring=keyring
        )

    def import_agno(
        self, source: agno_import.AgnoSource, *, progress: agno_import.Progress | None = None
    ) -> agno_import.AgnoImportReport:
        """Record every workflow session ``source`` reads from an Agno database as
        a Kern session log, each in its own transaction, at Agno's times (see
        :mod:`kern.application.agno_import`; :func:`kern.importing.import_agno`
        opens the source). Sessions already imported are skipped; the report
        lists the ones stored otherwise and the ones Kern cannot store.

        An admin operation, as :meth:`import_lines`: the sessions keep the owners
        Agno names, and a strict_users store refuses it."""
        self._admin("import_agno")
        return agno_import.import_agno(self.store, source, progress)

    # -- forgetting (kern.application.privacy) ---------------------------------------

    def erase_user(
        self, user_id: str, *, reason: str, requested_by: str = "kern"
    ) -> ErasureEntry | None:
        """Destroy the data keys of every session of ``user_id``, in one transaction
        with an erasure ledger entry: their sealed values read back as markers from
        then on, in every process that reads the store again; their events stay,
        and verify and anchors still pass. None when the user had no keys left.
        An admin operation; needs a keyring (KeyringError without one)."""
        self._admin("erase_user")
        user = validate_user_id(user_id)
        if user is None:
            raise InvalidInputError("erase_user needs a user_id")
        reason, requested_by = privacy.checked(reason, requested_by)
        return privacy.erase_user(self.store, user, reason=reason, requested_by=requested_by)

    def erase_session(
        self, session_id: str, *, reason: str, requested_by: str = "kern"
    ) -> ErasureEntry | None:
        """Destroy the data key of one session (see :meth:`erase_user`); None when it
        was erased before. SessionNotFoundError for an unknown session; KeyringError
        for one recorded without a keyring (purge it instead)."""
        self._admin("erase_session")
        session_id = validate_session_id(session_id)
        reason, requested_by = privacy.checked(reason, requested_by)
        return privacy.erase_session(
            self.store, session_id, reason=reason, requested_by=requested_by
        )

    def erase_older_than(
        self,
        older_than: timedelta,
        *,
        reason: str,
        requested_by: str = "kern",
        workflow_id: str | None = None,
    ) -> ErasureEntry | None:
        """Retention: erase every session created more than ``older_than`` ago (of
        ``workflow_id`` only, when given). Idempotent; None when none was left."""
        self._admin("erase_older_than")
        reason, requested_by = privacy.checked(reason, requested_by)
        return privacy.retention(
            self.store,
            older_than,
            reason=reason,
            requested_by=requested_by,
            workflow_id=workflow_id,
        )

    def rotate_keyring(self, keyring: Keyring) -> int:
        """Rewrap every data key with ``keyring``'s master key, in one transaction,
        rewriting no event; this db then uses ``keyring`` (open the store with it
        from now on). The number of keys rewrapped."""
        self._admin("rotate_keyring")
        if not isinstance(keyring, Keyring):
            raise KeyringError(f"keyring must be a kern.crypto.Keyring, got {keyring!r}")
        return privacy.rotate(self.store, keyring)

    # -- forgetting: purge and the erasure ledger (kern.application.erasure) ----

    def purge_session(self, session_id: str, *, reason: str, requested_by: str) -> ErasureEntry:
        """Delete the session's events, listing row, snapshot and segments, in one
        transaction that also records the purge in the erasure ledger (returned):
        the append-only log's one exception, for a store without a keyring.

        ``reason`` and ``requested_by`` are kept in the ledger as given: a ticket
        number and a role, never personal data (at most 500 and 200 characters;
        InvalidInputError otherwise). SessionNotFoundError for a session with no
        events. Nothing is written when either is raised. An admin operation,
        refused on a strict_users store; on PostgreSQL it needs a role that may
        delete from the log (the owner), not the least-privilege application role."""
        self._admin("purge_session")
        return erasure.purge(self.store, session_id, reason=reason, requested_by=requested_by)

    def erasures(self) -> list[ErasureEntry]:
        """The erasure ledger, oldest first. An admin operation, refused on a
        strict_users store."""
        self._admin("erasures")
        return self.store.erasures()

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _event_types(names: object) -> frozenset[str] | None:
    """``event_types`` checked against the events Kern records; InvalidQueryError if not."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence | set | frozenset):
        raise InvalidQueryError(
            f"event_types must be a list of event type names, got {type(names).__name__}"
        )
    known = {cls.__name__ for cls in EVENT_CLASSES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidQueryError(
            f"unknown event type {unknown[0]!r}: event_types are {', '.join(sorted(known))}"
        )
    return frozenset(names)


def _log_after(after: object) -> int:
    """``after`` as a version to read past (0 for None); InvalidQueryError otherwise."""
    if after is None:
        return 0
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**63:
        raise InvalidQueryError(f"after must be a version (an int of 0 or more), got {after!r}")
    return after


def _feed_position(after: object) -> FeedPosition | None:
    """``after`` as a FeedPosition; InvalidQueryError when it is not one."""
    if after is None:
        return None
    if (
        isinstance(after, tuple)
        and len(after) == 2
        and all(type(part) is int and 0 <= part < 2**63 for part in after)
    ):
        return FeedPosition(*after)
    raise InvalidQueryError(
        f"after must be a FeedPosition from an earlier page (two non-negative ints), got {after!r}"
    )
