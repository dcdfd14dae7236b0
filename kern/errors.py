"""Every error Kern raises on purpose; see the tree in kern.domain.errors."""

from __future__ import annotations

from kern.adapters.steps import InvalidStepError
from kern.domain.errors import (
    ConcurrencyError,
    InvalidIdentifierError,
    InvalidInputError,
    InvalidQueryError,
    InvalidSessionIdError,
    InvalidSessionNameError,
    KernError,
    RunAlreadyFinishedError,
    RunAlreadyStartedError,
    RunError,
    RunNotFoundError,
    SessionAccessError,
    SessionDeletedError,
    SessionError,
    SessionNotFoundError,
    StoreError,
    StoreUnavailableError,
    UnstorableValueError,
)

__all__ = [
    "ConcurrencyError",
    "InvalidIdentifierError",
    "InvalidInputError",
    "InvalidQueryError",
    "InvalidSessionIdError",
    "InvalidSessionNameError",
    "InvalidStepError",
    "KernError",
    "RunAlreadyFinishedError",
    "RunAlreadyStartedError",
    "RunError",
    "RunNotFoundError",
    "SessionAccessError",
    "SessionDeletedError",
    "SessionError",
    "SessionNotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "UnstorableValueError",
]
