"""The session listing: one summary row per session, and the query over it.

Stores keep the rows in an index (table or dict) updated in the same
transaction as the append, so ``get_sessions`` never reads events to filter,
sort or page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kern.domain.errors import InvalidQueryError
from kern.domain.events import SessionDeleted, SessionEvent, SessionRenamed, SessionStarted
from kern.domain.identity import check_text
from kern.domain.sealing import ERASED

MAX_LIMIT = 1_000_000_000
"""The largest ``limit`` (and ``page``) a listing or feed query accepts.

A billion is more rows than any one call can return, and keeps the row offset
``(page - 1) * limit`` inside the 64-bit integers SQLite and PostgreSQL take
(beyond them the drivers fail with an OverflowError of their own)."""

MAX_UNIX_SECONDS = 1e12
"""The widest timestamp a listing filter takes: about 31,700 years either side of
1970, past any datetime a store can compare with."""

SORT_COLUMNS = ("created_at", "updated_at", "session_id", "session_name", "user_id", "workflow_id")


@dataclass(frozen=True)
class SessionSummary:
    """One row of the listing index."""

    session_id: str
    user_id: str | None
    workflow_id: str | None
    workflow_name: str | None
    session_name: str
    created_at: float
    updated_at: float
    version: int
    deleted: bool = False


@dataclass(frozen=True)
class DeletedSession:
    """A deleted session as the listing index keeps it: who owned it, what it was
    called, and when its tombstone was appended (``deleted_at``, unix seconds: a
    tombstone is a session's last event). Its log stays readable, for audit."""

    session_id: str
    user_id: str | None
    workflow_id: str | None
    workflow_name: str | None
    session_name: str
    created_at: float
    deleted_at: float
    version: int

    @classmethod
    def of(cls, row: SessionSummary) -> DeletedSession:
        """The deleted session the listing ``row`` describes."""
        return cls(
            session_id=row.session_id,
            user_id=row.user_id,
            workflow_id=row.workflow_id,
            workflow_name=row.workflow_name,
            session_name=row.session_name,
            created_at=row.created_at,
            deleted_at=row.updated_at,
            version=row.version,
        )


INDEX_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SessionSummary))
"""The listing index's columns, in SessionSummary's order."""


def listing_update(events: Sequence[SessionEvent]) -> dict[str, Any]:
    """The index columns a batch of appended events sets (never empty).

    Includes every column when the batch starts the session.
    """
    last = events[-1]
    update: dict[str, Any] = {
        "session_id": last.session_id,
        "version": last.version,
        "updated_at": last.timestamp.timestamp(),
    }
    for event in events:
        if isinstance(event, SessionStarted):
            update.update(
                user_id=event.user_id,
                workflow_id=event.workflow_id,
                workflow_name=event.workflow_name,
                session_name="",
                created_at=event.timestamp.timestamp(),
                deleted=False,
            )
        elif isinstance(event, SessionRenamed):
            update["session_name"] = event.session_name
        elif isinstance(event, SessionDeleted):
            update["deleted"] = True
    return update


LISTING_TOPICS = frozenset(cls.topic() for cls in (SessionStarted, SessionRenamed, SessionDeleted))
"""The events that set listing columns besides ``version`` and ``updated_at``
(which the last event sets): folding a log's listing row needs only these."""

_STARTED_COLUMNS = ("user_id", "workflow_id", "workflow_name", "created_at")


def listing_mismatch(
    row: SessionSummary | None, events: Sequence[SessionEvent]
) -> tuple[int, str] | None:
    """Where the stored listing ``row`` departs from what ``events`` (a session's
    log, or at least its SessionStarted, renames, tombstone and last event) fold
    to: the version to blame and the problem, or None when they agree.

    Columns set by SessionStarted are blamed on version 1, the others on the
    log's last version. Timestamps agree within a microsecond, their precision.
    """
    last = events[-1].version
    if row is None:
        return last, "the listing has no row for the session: it is hidden from listings"
    expected = listing_update(events)
    for column in INDEX_COLUMNS:
        found, wanted = getattr(row, column), expected.get(column)
        if column == "session_name" and wanted == ERASED:
            continue  # sealed, and read without its key (destroyed, or not asked for)
        if column in ("created_at", "updated_at") and wanted is not None:
            same = math.isclose(found, wanted, rel_tol=0.0, abs_tol=1e-6)
        else:
            same = found == wanted
        if not same:
            return (1 if column in _STARTED_COLUMNS else last), (
                f"the listing row does not match the log: its {column} is {found!r}, "
                f"the log's is {wanted!r}"
            )
    return None


def name_key(name: str) -> str:
    """The form names are compared in: case-folded, so matching ignores case."""
    return name.casefold()


class Predicate(NamedTuple):
    """One condition on a listing row: ``column op value``.

    ``op`` is ``"="``, ``">="``, ``"<"`` or ``"contains"`` (``value`` is a
    substring of the column). Stores render these in their own SQL; the
    in-memory store evaluates them with :meth:`holds`.
    """

    column: str
    op: Literal["=", ">=", "<", "contains"]
    value: Any

    def holds(self, row: SessionSummary) -> bool:
        """Whether ``row`` meets the condition."""
        found = name_key(row.session_name) if self.column == NAME_KEY else getattr(row, self.column)
        if self.op == "=":
            return bool(found == self.value)
        if self.op == "contains":
            return self.value in found
        if self.op == ">=":
            return bool(found >= self.value)
        return bool(found < self.value)


NAME_KEY = "session_name_key"
"""The index column holding :func:`name_key` of the session name."""


class SessionQuery(BaseModel):
    """One ``get_sessions`` request, validated: the one description of a listing
    that every store turns into its own query (see :meth:`predicates`).

    Its fields are ``get_sessions``' arguments; :meth:`build` checks them and
    raises InvalidQueryError naming the bad one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    user_id: str | None = None
    workflow_id: str | None = None
    session_name: str | None = None
    start_timestamp: float | None = None
    end_timestamp: float | None = None
    limit: int | None = None
    page: int | None = None
    sort_by: str = "created_at"
    sort_order: str = "desc"
    deleted: bool = False
    """List deleted sessions instead of live ones."""

    @classmethod
    def build(cls, **filters: Any) -> SessionQuery:
        """The query for ``get_sessions(**filters)`` (None means "not given");
        InvalidQueryError names the bad argument."""
        given = {name: value for name, value in filters.items() if value is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, InvalidQueryError):
                raise cause from None
            where = ".".join(str(part) for part in error["loc"]) or "get_sessions"
            value = filters.get(str(error["loc"][0])) if error["loc"] else None
            raise InvalidQueryError(f"{where}: {error['msg']}, got {value!r}") from None

    @field_validator("user_id", "workflow_id", "session_name")
    @classmethod
    def _storable(cls, value: str, info: ValidationInfo) -> str:
        check_text(value, what=str(info.field_name), error=InvalidQueryError)
        return value

    @field_validator("start_timestamp", "end_timestamp", mode="before")
    @classmethod
    def _unix_seconds(cls, value: object, info: ValidationInfo) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > MAX_UNIX_SECONDS
        ):
            raise InvalidQueryError(
                f"{info.field_name} must be unix seconds (a finite number of at most "
                f"{MAX_UNIX_SECONDS:g} either way), got {value!r}"
            )
        return float(value)

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
            raise InvalidQueryError(
                f"limit must be a non-negative integer of at most {MAX_LIMIT} (MAX_LIMIT), "
                f"got {value!r}"
            )
        return value

    @field_validator("page", mode="before")
    @classmethod
    def _page(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
            raise InvalidQueryError(
                f"page is 1-based and must be >= 1 and at most {MAX_LIMIT}, got {value!r}"
            )
        return value

    @field_validator("sort_by", mode="before")
    @classmethod
    def _sort_by(cls, value: object) -> object:
        if value not in SORT_COLUMNS:
            raise InvalidQueryError(
                f"cannot sort by {value!r}: sort_by must be one of {', '.join(SORT_COLUMNS)}"
            )
        return value

    @field_validator("sort_order", mode="before")
    @classmethod
    def _sort_order(cls, value: object) -> object:
        order = value.lower() if isinstance(value, str) else value
        if order not in ("asc", "desc"):
            raise InvalidQueryError(f"sort_order must be 'asc' or 'desc', got {value!r}")
        return order

    @model_validator(mode="after")
    def _page_needs_limit(self) -> SessionQuery:
        if self.page is not None and self.limit is None:
            raise InvalidQueryError("page needs a limit: pass limit= with page=")
        return self

    @property
    def descending(self) -> bool:
        """Whether the listing runs from the largest sort value down."""
        return self.sort_order == "desc"

    @property
    def offset(self) -> int:
        """Rows to skip: (page - 1) * limit, 0 without a page."""
        return (self.page - 1) * self.limit if self.page and self.limit else 0

    @property
    def end_before(self) -> float | None:
        """end_timestamp is inclusive to the whole second: created_at < end + 1."""
        return None if self.end_timestamp is None else math.floor(self.end_timestamp) + 1

    @property
    def text_sort(self) -> bool:
        """Whether the sort column holds text (compared by code point on every store)."""
        return self.sort_by not in ("created_at", "updated_at")

    def predicates(self) -> list[Predicate]:
        """Every condition a listed row meets: live (or deleted, for a query of
        deleted sessions), and each filter given."""
        conditions = [Predicate("deleted", "=", self.deleted)]
        if self.user_id is not None:
            conditions.append(Predicate("user_id", "=", self.user_id))
        if self.workflow_id is not None:
            conditions.append(Predicate("workflow_id", "=", self.workflow_id))
        if self.session_name is not None:
            conditions.append(Predicate(NAME_KEY, "contains", name_key(self.session_name)))
        if self.start_timestamp is not None:
            conditions.append(Predicate("created_at", ">=", float(self.start_timestamp)))
        if self.end_before is not None:
            conditions.append(Predicate("created_at", "<", float(self.end_before)))
        return conditions

    def matches(self, row: SessionSummary) -> bool:
        """Whether ``row`` passes every filter (for stores that filter in Python)."""
        return all(condition.holds(row) for condition in self.predicates())

    def apply(self, rows: Iterable[SessionSummary]) -> list[SessionSummary]:
        """Filter, sort and page ``rows`` in Python."""
        kept = [row for row in rows if self.matches(row)]
        kept.sort(key=lambda r: r.session_id, reverse=self.descending)
        kept.sort(key=lambda r: _sort_key(getattr(r, self.sort_by)), reverse=self.descending)
        end = None if self.limit is None else self.offset + self.limit
        return kept[self.offset : end]


def _sort_key(value: Any) -> tuple[bool, Any]:
    # None sorts before every value, as NULLs do in an ascending SQL order.
    return (value is not None, value if value is not None else 0)
