"""The hash chain checked: walk a session's stored records and name the first bad one.

Versions must run 1, 2, 3 ... with none missing, each record must decode, be
stored in the canonical encoding (see :mod:`kern.domain.encoding`), and
carry the hash recomputed from its stored bytes and the hash stored before
it. The first version where that fails is reported with what was found
there: a missing event, events out of order, changed content or a changed
hash. Pure: the records come from whoever read them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from kern.domain.encoding import GENESIS_HASH, encode_json, link_hash
from kern.domain.errors import StoreError
from kern.domain.records import Record, decode_record
from kern.domain.sealing import without_keys


@dataclass(frozen=True)
class SessionVerification:
    """How one session's log checked out."""

    session_id: str
    ok: bool
    events: int
    first_bad_version: int | None = None
    problem: str | None = None
    purged: str | None = None
    """Set when the session's events were purged: the erasure ledger's account
    (which purge, when, requested by whom, why). A purged session has no
    events to check; it is ok unless anchors say its log outlived the purge."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``purged`` only when set)."""
        found = asdict(self)
        if found["purged"] is None:
            del found["purged"]
        return found


@dataclass(frozen=True)
class VerifyReport:
    """The verification of one or more sessions; ok when every one is."""

    sessions: list[SessionVerification]

    @property
    def ok(self) -> bool:
        """Whether every session verified."""
        return all(s.ok for s in self.sessions)

    @property
    def failed(self) -> list[SessionVerification]:
        """The sessions that did not verify."""
        return [s for s in self.sessions if not s.ok]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form: ok, then each session."""
        return {"ok": self.ok, "sessions": [s.to_json() for s in self.sessions]}


class _Link(NamedTuple):
    """A record's parts as the chain sees them."""

    topic: str
    payload: bytes
    stored_hash: str
    canonical: bool


def verify_records(
    session_id: str, records: Sequence[Record], indexed_version: int | None = None
) -> SessionVerification:
    """Walk the hash chain of ``records`` (one session's, in stored order).

    ``indexed_version``, the last version the store's listing recorded, catches
    events removed from the end of a log, which the chain alone cannot see."""
    if not records:
        return SessionVerification(
            session_id, False, 0, 1, "missing event: the session has no stored events"
        )
    previous = GENESIS_HASH
    for position in range(1, len(records) + 1):
        problem = _position_problem(records, position) or _link_problem(
            session_id, records, position, previous
        )
        if isinstance(problem, str):
            return SessionVerification(session_id, False, len(records), position, problem)
        previous = problem.stored_hash
    if indexed_version is not None and indexed_version > len(records):
        return SessionVerification(
            session_id,
            False,
            len(records),
            len(records) + 1,
            f"missing event: the log ends at version {len(records)} but the listing "
            f"recorded version {indexed_version}",
        )
    return SessionVerification(session_id, True, len(records))


def _position_problem(records: Sequence[Record], position: int) -> str | None:
    """What is wrong when the record at ``position`` is not version ``position``."""
    found = records[position - 1].version
    if found == position:
        return None
    if found < position:
        return f"order changed: version {found} appears twice"
    later = [r.version for r in records[position:]]
    if position in later:
        return f"order changed: version {position} is stored after version {found}"
    before = f"version {position - 1}" if position > 1 else "the start"
    return f"missing event: version {position} is absent (the log goes from {before} to {found})"


def _link_problem(
    session_id: str, records: Sequence[Record], position: int, previous: str
) -> str | _Link:
    """What is wrong with the record at ``position`` when the chain before it holds
    (or, when nothing is, its link)."""
    record = records[position - 1]
    link = _parse(record)
    if isinstance(link, str):
        return link
    if link_hash(previous, link.topic, session_id, position, link.payload) == link.stored_hash:
        if not link.canonical:
            return "content changed: the stored bytes are not in Kern's canonical encoding"
        return link
    return _mismatch(session_id, records, position, previous, link)


def _parse(record: Record) -> _Link | str:
    """The record's chain parts, or what makes it unreadable."""
    try:
        data = json.loads(record.state)
    except ValueError as exc:
        return f"unreadable: the stored payload is not JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
        return "unreadable: the stored payload is not a JSON object with a hash"
    try:
        # The structure only: sealed values are left closed (verify needs no key).
        decode_record(record, without_keys)
    except StoreError as exc:
        return f"unreadable: {exc}"
    state = record.state
    stored_hash = data["hash"]
    # Canonical bytes end with the hash as the last key: the payload is then
    # what comes before it, and no second encoding is needed.
    suffix = b',"hash":' + encode_json(stored_hash) + b"}"
    if state.endswith(suffix) and encode_json(data) == state:
        return _Link(record.topic, state[: -len(suffix)] + b"}", stored_hash, True)
    del data["hash"]
    return _Link(record.topic, encode_json(data), stored_hash, False)


def _mismatch(
    session_id: str,
    records: Sequence[Record],
    position: int,
    previous: str,
    link: _Link,
) -> str:
    """Why a record's hash does not match: moved, hash edited, or content edited."""
    for other in records:
        if other is records[position - 1]:
            continue
        candidate = _parse(other)
        if not isinstance(candidate, str) and candidate.stored_hash == link_hash(
            previous, candidate.topic, session_id, position, candidate.payload
        ):
            return (
                f"order changed: the event that belongs at version {position} "
                f"is stored at version {other.version}"
            )
    if position < len(records):
        recomputed = link_hash(previous, link.topic, session_id, position, link.payload)
        following = _parse(records[position])
        if not isinstance(following, str) and following.stored_hash == link_hash(
            recomputed, following.topic, session_id, position + 1, following.payload
        ):
            return "hash changed: the stored hash is not the hash of this event's content"
    return "content changed: the stored topic or payload does not match its hash"
