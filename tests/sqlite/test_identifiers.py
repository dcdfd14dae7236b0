"""Dangerous SQLite table names are refused before the file is opened.

PostgreSQL's table and schema names: tests/postgres/test_identifiers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kern.db.sqlite import SqliteDb
from kern.errors import InvalidIdentifierError

BAD_NAMES = {
    "quote": 'sessions"',
    "semicolon": "s; DROP TABLE users",
    "space": "my sessions",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_sqlite_refuses_an_unsafe_session_table_before_opening_the_file(
    tmp_path: Path, name: str
) -> None:
    """PostgreSQL's table and schema names: tests/postgres/test_identifiers.py."""
    with pytest.raises(InvalidIdentifierError, match="session_table"):
        SqliteDb(db_file=tmp_path / "kern.db", session_table=name)
    assert list(tmp_path.iterdir()) == []
