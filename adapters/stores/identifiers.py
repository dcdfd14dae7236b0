"""SQL identifiers, checked before any SQL runs, and the names derived from them;
and database URLs as they may be shown (without a password)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kern.domain.errors import InvalidIdentifierError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1; SQLite follows the same rule here
_SUFFIXES = (
    "_events",
    "_index",
    "_schema",
    "_snapshots",
    "_segments",
    "_keys",
    "_erasures",
    "_purging",
    "_runs",
)
LONGEST_SUFFIX = max(len(s) for s in _SUFFIXES)


def check_identifier(name: object, *, what: str, room: int = 0) -> str:
    """Return ``name`` if it is a plain SQL identifier, else InvalidIdentifierError.

    Plain means: ASCII letters, digits and underscores, not starting with a
    digit, at most 63 bytes once ``room`` bytes of suffix are added.
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise InvalidIdentifierError(
            f"{what} must be a plain SQL identifier (letters, digits, underscores, "
            f"not starting with a digit), got {name!r}"
        )
    if len(name) + room > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifierError(
            f"{what} {name!r} is too long: at most {MAX_IDENTIFIER_BYTES - room} "
            f"characters, so that the names derived from it fit in {MAX_IDENTIFIER_BYTES} bytes"
        )
    return name


@dataclass(frozen=True)
class TableNames:
    """The tables a store keeps for one ``session_table``."""

    events: str
    index: str
    schema_versions: str
    """``<session_table>_schema``: the versions of the table layout applied."""
    snapshots: str
    segments: str
    """``<session_table>_segments``: read-model segments (derived data, see
    :mod:`kern.projections.segments`)."""
    keys: str
    """``<session_table>_keys``: each data subject's data key, wrapped by the
    keyring's master key (see docs/privacy.md)."""
    erasures: str
    """``<session_table>_erasures``: the erasure ledger (who asked, when, which
    subject, why; no personal data)."""
    purging: str
    """``<session_table>_purging`` (SQLite only): the session being purged, named
    inside the purge's transaction, for which the no-delete trigger lets
    its events go."""
    runs: str
    """``<session_table>_runs``: the open-runs index (see
    :mod:`kern.projections.open_runs`), written with each append."""


def table_names(session_table: str) -> TableNames:
    """Validate ``session_table`` and derive the store's table names from it."""
    base = check_identifier(session_table, what="session_table", room=LONGEST_SUFFIX)
    return TableNames(
        events=f"{base}_events",
        index=f"{base}_index",
        schema_versions=f"{base}_schema",
        snapshots=f"{base}_snapshots",
        segments=f"{base}_segments",
        keys=f"{base}_keys",
        erasures=f"{base}_erasures",
        purging=f"{base}_purging",
        runs=f"{base}_runs",
    )


def redact_url(db_url: str) -> str:
    """``db_url`` without its password, for messages."""
    if "://" not in db_url or "@" not in db_url:
        return db_url
    scheme, rest = db_url.split("://", 1)
    credentials, location = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{location}"
