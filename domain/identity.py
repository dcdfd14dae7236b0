"""Who a session belongs to, and what an id must be for every store to keep it.

:func:`may_access` is the one ownership rule every read and write applies:
``user_id=None`` acts unscoped, any other user sees only their own sessions.
"""

from __future__ import annotations

from kern.domain.errors import InvalidInputError, InvalidSessionIdError, InvalidUserIdError
from kern.domain.values import text_problem

MAX_ID_CHARS = 255
"""The longest session_id or user_id: both are keys of the listing index."""


def validate_session_id(session_id: object) -> str:
    """Return ``session_id`` if it is a non-empty string every store can keep, else raise."""
    if not isinstance(session_id, str):
        raise InvalidSessionIdError(
            f"session_id must be a non-empty string, got {type(session_id).__name__}"
        )
    if not session_id.strip():
        raise InvalidSessionIdError("session_id must be a non-empty string, got ''")
    _check_id(session_id, "session_id", InvalidSessionIdError)
    return session_id


def validate_user_id(user_id: object) -> str | None:
    """Return ``user_id`` if it is None or a string every store can keep, else raise."""
    if user_id is None:
        return None
    if not isinstance(user_id, str):
        raise InvalidUserIdError(f"user_id must be a string or None, got {type(user_id).__name__}")
    _check_id(user_id, "user_id", InvalidUserIdError)
    return user_id


def _check_id(value: str, what: str, error: type[InvalidInputError]) -> None:
    if len(value) > MAX_ID_CHARS:
        raise error(f"{what} is too long: {len(value)} characters, at most {MAX_ID_CHARS}")
    problem = text_problem(value)
    if problem is not None:
        raise error(f"{what} {value!r} {problem}")


def check_text(
    value: object, *, what: str, error: type[InvalidInputError] = InvalidInputError
) -> None:
    """Raise ``error`` unless ``value`` is None or a string every store can keep."""
    if value is None:
        return
    if not isinstance(value, str):
        raise error(f"{what} must be a string, got {type(value).__name__}")
    problem = text_problem(value)
    if problem is not None:
        raise error(f"{what} {problem}")


def check_count(
    value: object, *, what: str, error: type[InvalidInputError] = InvalidInputError
) -> None:
    """Raise ``error`` unless ``value`` is None or a non-negative int (not a bool)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"{what} must be a non-negative integer, got {value!r}")


def check_flag(
    value: object, *, what: str, error: type[InvalidInputError] = InvalidInputError
) -> None:
    """Raise ``error`` unless ``value`` is None, True or False."""
    if value is not None and not isinstance(value, bool):
        raise error(f"{what} must be True or False, got {value!r}")


def may_access(owner: str | None, user_id: str | None) -> bool:
    """Whether ``user_id`` may read or write a session owned by ``owner``."""
    return user_id is None or user_id == owner
