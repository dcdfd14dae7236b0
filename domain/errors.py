"""Every error Kern raises on purpose, in one tree.

    KernError
    ├── InvalidInputError (also ValueError)    bad argument from the caller
    │   ├── InvalidSessionIdError              empty, non-string, over-long or unstorable session_id
    │   ├── InvalidUserIdError                 non-string, over-long or unstorable user_id
    │   │   └── UserRequiredError              no user_id, on a strict_users store
    │   ├── InvalidSessionNameError            no name and autogenerate=False
    │   ├── InvalidQueryError                  bad sort order, page without limit
    │   ├── InvalidIdentifierError             table or schema name that is not SQL-safe
    │   ├── InvalidStepError                   a workflow step Kern cannot run
    │   ├── InvalidAsOfError                   an as_of that names no point of the session
    │   ├── ImportSourceError                  a database to import from that is missing,
    │   │                                      unreachable, or not what it should be
    │   └── UnstorableValueError (also TypeError)  a value with no JSON form
    ├── SessionError                           the session forbids the command
    │   ├── SessionNotFoundError (also LookupError)
    │   ├── SessionDeletedError
    │   ├── SessionAccessError                 a user who does not own the session
    │   └── SessionExistsError                 an import or fork target already exists
    ├── RunError                               the run forbids the command
    │   ├── RunNotFoundError (also LookupError)
    │   ├── RunAlreadyStartedError
    │   ├── RunAlreadyFinishedError
    │   │   └── RunAbandonedError              abandoned (abandon_run): it cannot be resumed
    │   ├── RunAlreadyResumedError             another writer resumed the run, or still writes it
    │   ├── RunCancelledError                  stopped by cancel_run (recorded CANCELLED)
    │   └── StepFailedError (also RuntimeError)  a step reported failure under on_error="fail"
    ├── StoreError                             the store failed or disagreed
    │   ├── ConcurrencyError                   retries exhausted on a busy session
    │   ├── StoreUnavailableError              cannot reach or open the database
    │   │   ├── StoreClosedError               the store was closed
    │   │   ├── StoreNotFoundError             no Kern tables there, and not allowed to create them
    │   │   ├── SchemaVersionError             tables written by a newer Kern
    │   │   ├── SchemaMigrationRequiredError   tables behind the code, no right to migrate
    │   │   └── StoreLockedError               another writer held the database's lock too long
    │   ├── LogIntegrityError                  a log whose hash chain does not verify
    │   └── UnreadableEventError               a stored event that is corrupt or newer than the code
    ├── AsyncStoreError (also TypeError)      sync call of async code: use await or arun
    └── AnchorError                            signed anchors that cannot be trusted
        ├── AnchorFileError                    an anchor file or key file Kern cannot read
        └── AnchorSignatureError               anchors whose signature does not verify

Errors carry the identifiers they are about (``session_id``, ``run_id``) as
attributes, so callers can react without parsing messages.
"""

from __future__ import annotations


class KernError(Exception):
    """Base of every error Kern raises on purpose."""


class InvalidInputError(KernError, ValueError):
    """An argument given to Kern is not acceptable; nothing was recorded."""


class InvalidSessionIdError(InvalidInputError):
    """A session_id must be a non-empty string Kern can store, of at most 255 characters."""


class InvalidUserIdError(InvalidInputError):
    """A user_id must be None or a string Kern can store, of at most 255 characters."""


class UserRequiredError(InvalidUserIdError):
    """A store opened with ``strict_users=True`` was called without a user_id."""


class InvalidSessionNameError(InvalidInputError):
    """A session name is missing or not a string."""


class InvalidQueryError(InvalidInputError):
    """A listing or query argument is out of range or unknown."""


class InvalidIdentifierError(InvalidInputError):
    """A table or schema name is not a plain SQL identifier."""


class InvalidStepError(InvalidInputError):
    """A workflow step is neither a callable, a Step nor an agent-like object."""


class InvalidAsOfError(InvalidInputError):
    """``as_of`` is not a version, datetime or run_id of the session."""


class ImportSourceError(InvalidInputError):
    """The database an import reads from cannot be used: no such file, no server
    there, not an Agno database, or no such table. Nothing was imported.

    ``source`` names the database (a URL without its password) and ``table``
    the table, when the problem is about one."""

    def __init__(self, message: str, *, source: str, table: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.table = table


class UnstorableValueError(InvalidInputError, TypeError):
    """A value has no JSON form, so Kern cannot record it."""

    def __init__(self, message: str, *, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class SessionError(KernError):
    """The session's current state forbids the command."""

    def __init__(self, message: str, *, session_id: str) -> None:
        super().__init__(message)
        self.session_id = session_id


class SessionNotFoundError(SessionError, LookupError):
    """No session with this session_id exists (or it is not visible to the user)."""

    @classmethod
    def of(cls, session_id: str) -> SessionNotFoundError:
        """The error for ``session_id``, worded the same wherever it is raised: a
        session another user owns reads exactly like one that does not exist."""
        return cls(f"session {session_id!r} not found", session_id=session_id)


class SessionDeletedError(SessionError):
    """The session was deleted; it accepts no more writes."""


class SessionAccessError(SessionError):
    """The session belongs to another user."""


class SessionExistsError(SessionError):
    """A session with this session_id already exists; it is never overwritten."""


class RunError(KernError):
    """The run's current state forbids the command."""

    def __init__(self, message: str, *, session_id: str, run_id: str) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.run_id = run_id


class RunNotFoundError(RunError, LookupError):
    """No run with this run_id was started in the session."""

    @classmethod
    def of(cls, session_id: str, run_id: str) -> RunNotFoundError:
        """The error for ``run_id`` of ``session_id``, worded the same everywhere."""
        return cls(
            f"run {run_id!r} not found in session {session_id!r}",
            session_id=session_id,
            run_id=run_id,
        )


class StepNotFoundError(InvalidInputError, LookupError):
    """The run recorded no step with this index or name."""


class RunErasedError(RunError):
    """The run's values were erased (its data key destroyed): it cannot be replayed."""


class RunAlreadyStartedError(RunError):
    """A run with this run_id was already started in the session."""


class RunAlreadyFinishedError(RunError):
    """The run already has its terminal event."""


class RunAbandonedError(RunAlreadyFinishedError):
    """The run was abandoned (``abandon_run``): recorded CANCELLED with the reason
    as its error and this error's name as its ``error_type``; it cannot be resumed."""


class RunAlreadyResumedError(RunError):
    """Another writer resumed the run first, or went on writing it, since this one
    read it: only one writer continues a run. Nothing of this writer's was written."""


class RunCancelledError(RunError):
    """The run was stopped by ``cancel_run`` before a step; it is recorded CANCELLED."""


class StepFailedError(RunError, RuntimeError):
    """A step returned a StepOutput with ``success=False`` and its policy is
    ``on_error="fail"``: the run is recorded ERROR (Agno raises RuntimeError)."""

    def __init__(self, message: str, *, session_id: str, run_id: str, step_name: str) -> None:
        super().__init__(message, session_id=session_id, run_id=run_id)
        self.step_name = step_name


class StoreError(KernError):
    """The store could not do what was asked."""


class ConcurrencyError(StoreError):
    """Other writers kept winning the race for a session; retries ran out."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or opened."""


class StoreClosedError(StoreUnavailableError):
    """The store was closed; it is never used again (raised at once, nothing retried)."""


class StoreNotFoundError(StoreUnavailableError):
    """No Kern store where one was opened without ``migrate`` (a mistyped schema or
    table name, a file some other program wrote): it was left as it was, nothing
    created. Tables that exist but are behind raise SchemaMigrationRequiredError."""


class SchemaVersionError(StoreUnavailableError):
    """The database's tables were written by a newer Kern (a schema version this
    code does not know); it is left untouched."""


class SchemaMigrationRequiredError(StoreUnavailableError):
    """The tables are at an older schema version than this Kern, and the role that
    opened them may not migrate them (a least-privilege application role, or a
    store opened with ``migrate=False``); run the migrations as the owner role."""


class StoreLockedError(StoreUnavailableError):
    """Another connection held the database's write lock for longer than the
    store's timeout; nothing of the failed call was written, so it can be tried again."""


class LogIntegrityError(StoreError):
    """A session's stored events do not match their hash chain.

    ``version`` is the first version where content, order or presence no
    longer matches; ``problem`` says what was found there.
    """

    def __init__(self, message: str, *, session_id: str, version: int, problem: str) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.version = version
        self.problem = problem


class UnreadableEventError(StoreError):
    """A stored event cannot be read: its record is corrupt, or it was written by a
    newer Kern (a topic or schema_version this code does not know).

    ``session_id`` and ``version`` say where it is stored.
    """

    def __init__(self, message: str, *, session_id: str, version: int) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.version = version


class AsyncStoreError(KernError, TypeError):
    """Async code called from sync code: a sync call on an async store (await its
    methods, or use ``workflow.arun``), or an ``async def`` step given to
    ``Workflow.run`` (use ``await workflow.arun(...)``). Nothing was recorded."""


class KeyringError(KernError):
    """The keyring cannot open the store's data keys (a store written with a keyring
    opened without one, another master key, changed key bytes), or a master key
    is missing or malformed. Raised at open; nothing is written."""


class AnchorError(KernError):
    """Signed anchors (a session head list kept outside the database) that Kern
    cannot use; nothing was verified against them."""


class AnchorFileError(AnchorError):
    """An anchor file or a key file is missing, malformed or of the wrong kind."""


class AnchorSignatureError(AnchorError):
    """The anchor file's signature does not verify with the public key: the file
    was changed after it was signed, or the key is not the signer's."""
