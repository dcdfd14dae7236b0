"""Every error Kern raises on purpose; see the tree in kern.domain.errors."""

from __future__ import annotations

from kern.adapters.steps import InvalidStepError
from kern.domain.errors import (
    ConcurrencyError,
    InvalidAsOfError,
    InvalidIdentifierError,
    InvalidInputError,
    InvalidQueryError,
    InvalidSessionIdError,
    InvalidSessionNameError,
    KernError,
    LogIntegrityError,
    RunAlreadyFinishedError,
    RunAlreadyStartedError,
    RunError,
    RunNotFoundError,
    SessionAccessError,
    SessionDeletedError,
    SessionError,
    SessionExistsError,
    SessionNotFoundError,
    StoreError,
    StoreUnavailableError,
    UnstorableValueError,
)

__all__ = [
    "ConcurrencyError",
    "InvalidAsOfError",
    "InvalidIdentifierError",
    "InvalidInputError",
    "InvalidQueryError",
    "InvalidSessionIdError",
    "InvalidSessionNameError",
    "InvalidStepError",
    "KernError",
    "LogIntegrityError",
    "RunAlreadyFinishedError",
    "RunAlreadyStartedError",
    "RunError",
    "RunNotFoundError",
    "SessionAccessError",
    "SessionDeletedError",
    "SessionError",
    "SessionExistsError",
    "SessionNotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "UnstorableValueError",
]
