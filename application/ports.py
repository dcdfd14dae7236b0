"""The store port: what every Kern store does, whatever database is behind it.

A store appends a session's new events at the positions after the ones it
already has (failing with :class:`AppendConflict` when another writer got
there first), reads a session's events back, and keeps the listing index and
the open-runs index in the same transaction as the append. The stores themselves live in
``kern.adapters.stores``; this layer only knows this interface.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import NamedTuple

from kern.application.cache import CachedStream
from kern.application.keys import DataKeys, KeyRow
from kern.domain.erasure import ErasureEntry
from kern.domain.events import SessionEvent
from kern.domain.records import Record
from kern.domain.sealing import KeyLookup
from kern.projections.history import HistoryView
from kern.projections.listing import SessionQuery, SessionSummary
from kern.projections.open_runs import InterruptedRun
from kern.projections.segments import ReadSegment


class FeedPosition(NamedTuple):
    """Where an event stands in the store-wide feed; compare positions as tuples.

    ``transaction`` is the PostgreSQL transaction id of the append (0 on the
    stores whose appends are serialised), ``sequence`` the row's notification id.
    """

    transaction: int
    sequence: int


class FeedEntry(NamedTuple):
    """One event of the store-wide feed and its position."""

    position: FeedPosition
    event: SessionEvent


class AppendConflict(Exception):
    """Another writer appended to the session first; reload and decide again."""


class SessionStore(ABC):
    """Append and read session event streams; list sessions from the index."""

    @abstractmethod
    def append(self, events: Sequence[SessionEvent]) -> None:
        """Append events of one session atomically, or raise AppendConflict."""

    @contextlib.contextmanager
    def writing(self, session_id: str) -> Iterator[None]:
        """Wait for this writer's turn at the session, and hold it inside the block.

        The unit of work enters it after a conflict, around reading the newest
        events, deciding and appending, so writers of one busy session queue
        instead of colliding again and again. A turn is only a courtesy: the
        append's version check still decides, so a store may let a writer in
        at once (this default), or after a wait it gives up on.
        """
        yield

    @abstractmethod
    def read(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> list[SessionEvent]:
        """The session's events with after < version <= upto, in order."""

    @abstractmethod
    def stream(self, session_id: str) -> CachedStream:
        """The session's cached stream (what this process has decoded of it)."""

    @abstractmethod
    def refresh(self, stream: CachedStream) -> bool:
        """Extend ``stream`` with the events stored after it; True if there were any."""

    @abstractmethod
    def history(self, session_id: str, upto: int) -> HistoryView:
        """The session's run history as it stood at version ``upto``."""

    @abstractmethod
    def run_span(self, session_id: str, run_id: str) -> tuple[int, int | None] | None:
        """Versions of the run's RunStarted and terminal event (None while open);
        None when the session never started that run."""

    @abstractmethod
    def read_feed(self, after: FeedPosition | None = None, limit: int = 1000) -> list[FeedEntry]:
        """Events of every session in one order that never changes, after ``after``.

        A follower that reads the feed page by page sees every event once, in
        each session's version order: an event is only served once no append
        still in flight could take a position before it.
        """

    @abstractmethod
    def list_sessions(self, query: SessionQuery) -> list[SessionSummary]:
        """Index rows of live sessions (deleted ones, when ``query.deleted``) matching
        ``query``, sorted and paged."""

    @abstractmethod
    def open_runs(
        self, before: float, *, user_id: str | None = None, run_id: str | None = None
    ) -> list[InterruptedRun]:
        """From the open-runs index: the runs of live sessions still open whose last
        event was recorded before ``before`` (unix seconds), oldest first; with
        ``user_id``, only that user's sessions'; with ``run_id``, only runs of that id."""

    @abstractmethod
    def session_ids(self) -> list[str]:
        """Every session in the store, deleted ones too, oldest first."""

    def indexed_version(self, session_id: str) -> int | None:
        """The last version the listing index recorded for the session (None if absent).

        Written in the same transaction as the events, so a log shorter than
        this lost events at its end."""
        row = self.listing_row(session_id)
        return row.version if row is not None else None

    @abstractmethod
    def read_records(self, session_id: str) -> list[Record]:
        """The session's stored records exactly as the database holds them (no cache)."""

    def last_record(self, session_id: str) -> Record | None:
        """The session's last stored record (None if it has none): its head, which
        anchors sign. Stores override this with a one-row read."""
        records = self.read_records(session_id)
        return records[-1] if records else None

    @abstractmethod
    def listing_row(self, session_id: str) -> SessionSummary | None:
        """The session's row in the listing index as stored, deleted or not (None if absent)."""

    @abstractmethod
    def append_records(self, records: Sequence[Record], keys: Sequence[KeyRow] = ()) -> None:
        """Insert stored records of one or more new sessions as they are, with each
        session's listing row and the data keys that sealed them (``keys``), in
        one transaction: all of them or, with AppendConflict when any of their
        versions (or a key for one of their sessions) exists, none."""

    @abstractmethod
    def version_at(self, session_id: str, when: datetime) -> int:
        """The last version recorded at or before ``when`` (0 if none)."""

    def read_segments(self, session_id: str, upto: int | None = None) -> list[ReadSegment]:
        """The session's stored read-model segments ending at or before ``upto``
        (all when None), in version order. A store that keeps none returns []:
        readers then fold every event, as they must whenever segments are missing."""
        return []

    def write_segments(self, session_id: str, segments: Sequence[ReadSegment]) -> None:  # noqa: B027 - optional hook
        """Keep ``segments`` (in version order) and drop any the session had after
        the first one's ``previous``: those no longer continue the chain. A store
        that keeps none ignores them."""

    # -- data keys (kern.application.keys) -------------------------------------------------

    data_keys: DataKeys | None = None
    """With a keyring: the data keys sealed values are written and read with."""

    @property
    def key_lookup(self) -> KeyLookup | None:
        """How this store opens sealed values (None without a keyring)."""
        return self.data_keys.lookup if self.data_keys is not None else None

    @abstractmethod
    def get_key(self, *, session_id: str | None = None, key_id: str | None = None) -> KeyRow | None:
        """The keys table's row of ``session_id`` or of ``key_id`` (None if absent)."""

    @abstractmethod
    def any_key(self) -> KeyRow | None:
        """One row of the keys table, any; None when it has none."""

    @abstractmethod
    def key_rows(self, owner: str | None = None) -> list[KeyRow]:
        """Every row of the keys table, or the rows of ``owner``'s sessions."""

    @abstractmethod
    def key_erased(self, key_id: str) -> bool:
        """Whether the erasure ledger records the key ``key_id`` as destroyed."""

    @abstractmethod
    def destroy_keys(self, rows: Sequence[KeyRow], entry: ErasureEntry) -> None:
        """In one transaction: delete the rows (made unrecoverable from the file where
        the database can), blank the listing's names of their sessions, and record
        ``entry`` in the erasure ledger."""

    def forget_cached(self, session_ids: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Drop what this process holds of these sessions (their keys were destroyed)."""

    @abstractmethod
    def rewrap_keys(self, rows: Sequence[KeyRow]) -> None:
        """Replace the stored wrapping of each key (by key_id), in one transaction."""

    @abstractmethod
    def purge_session(self, session_id: str, entry: ErasureEntry) -> None:
        """Delete the session's events, its listing row, its snapshot and its
        segments, and record ``entry`` in the erasure ledger, all in one
        transaction: the append-only guard is lifted for exactly those events.
        Then forget the session in this process's caches. A failure leaves
        everything as it was."""

    @abstractmethod
    def record_erasure(self, entry: ErasureEntry) -> None:
        """Add ``entry`` to the erasure ledger (it only grows)."""

    @abstractmethod
    def erasures(self) -> list[ErasureEntry]:
        """The erasure ledger, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook; stores without connections skip it
        """Release connections; the store is unusable afterwards."""
