"""``kern rename``, ``kern delete`` and ``kern sessions --deleted``: the commands that
change a session, and the listing of what was deleted, each scoped by ``--user``."""

from __future__ import annotations

import pytest

from tests.contract.cli.conftest import Target

# -- rename -----------------------------------------------------------------------


def test_rename_records_the_name_and_prints_it(seeded: Target) -> None:
    result = seeded.kern("rename", "notes", "Reading list")
    assert (result.status, result.out, result.err) == (0, "Reading list\n", "")
    session = seeded.db.get_session("notes")
    assert session is not None and session.session_name == "Reading list"
    assert seeded.db.get_log("notes")[-1].event_type == "SessionRenamed"


def test_rename_as_json(seeded: Target) -> None:
    result = seeded.kern("--user", "bob", "rename", "notes", "Reading list", "--json")
    assert result.json() == {"session_id": "notes", "session_name": "Reading list"}


@pytest.mark.parametrize(
    ("session_id", "user"), [("nobody", None), ("research", "bob")], ids=["missing", "not-yours"]
)
def test_rename_of_no_session_of_yours_fails_and_writes_nothing(
    seeded: Target, session_id: str, user: str | None
) -> None:
    """Another user's session reads exactly as a missing one."""
    before = len(seeded.db.get_log("research"))
    options = [] if user is None else ["--user", user]
    result = seeded.kern(*options, "rename", session_id, "Mine now")
    assert (result.status, result.out) == (1, "")
    assert result.err == f"kern: error: no session {session_id!r}\n"
    assert len(seeded.db.get_log("research")) == before


def test_rename_of_a_deleted_session_says_so(seeded: Target) -> None:
    seeded.db.delete_session("notes")
    result = seeded.kern("rename", "notes", "Again")
    assert result.status == 1
    assert result.err == "kern: error: session 'notes' was deleted and accepts no more writes\n"


def test_rename_needs_a_name(seeded: Target) -> None:
    result = seeded.kern("rename", "notes", "")
    assert result.status == 2
    assert result.err == "kern: error: session_name must be a non-empty string, got ''\n"


# -- delete -----------------------------------------------------------------------


def test_delete_appends_the_tombstone_and_says_what_it_did(seeded: Target) -> None:
    result = seeded.kern("delete", "notes")
    assert result.status == 0
    assert result.out == (
        "deleted session notes (tombstone at version 7; its log stays readable: "
        "kern events notes)\n"
    )
    assert seeded.db.get_session("notes") is None
    assert seeded.db.get_log("notes")[-1].event_type == "SessionDeleted"
    assert [row["session_id"] for row in seeded.kern("sessions", "--json").json()] == ["research"]


def test_delete_as_json(seeded: Target) -> None:
    result = seeded.kern("--user", "bob", "delete", "notes", "--json")
    assert result.json() == {"session_id": "notes", "deleted": True, "version": 7}


def test_delete_twice_has_nothing_to_delete_the_second_time(seeded: Target) -> None:
    assert seeded.kern("delete", "notes").status == 0
    again = seeded.kern("delete", "notes")
    assert (again.status, again.out) == (1, "")
    assert again.err == "kern: error: no session 'notes': it was deleted at version 7\n"
    assert len(seeded.db.get_log("notes")) == 7


@pytest.mark.parametrize(
    ("session_id", "user"), [("nobody", None), ("research", "bob")], ids=["missing", "not-yours"]
)
def test_delete_of_no_session_of_yours_fails_and_writes_nothing(
    seeded: Target, session_id: str, user: str | None
) -> None:
    options = [] if user is None else ["--user", user]
    result = seeded.kern(*options, "delete", session_id)
    assert (result.status, result.out) == (1, "")
    assert result.err == f"kern: error: no session {session_id!r}\n"
    assert seeded.db.get_session("research") is not None


# -- sessions --deleted ------------------------------------------------------------


def test_sessions_deleted_lists_what_was_deleted(seeded: Target) -> None:
    assert seeded.kern("sessions", "--deleted", "--json").json() == []
    seeded.kern("delete", "notes")
    seeded.kern("delete", "research")
    rows = seeded.kern("sessions", "--deleted", "--json").json()
    assert [row["session_id"] for row in rows] == ["research", "notes"]
    tombstone = seeded.db.get_log("research")[-1]
    assert rows[0]["deleted_at"] == tombstone.timestamp.timestamp()
    assert rows[0]["version"] == tombstone.version
    assert rows[0]["session_name"] == "Research notes" and rows[0]["user_id"] == "alice"
    table = seeded.kern("sessions", "--deleted")
    assert "research" in table.out and "notes" in table.out
    assert "2 deleted session(s)" in table.out
    assert seeded.kern("sessions", "--json").json() == []


def test_sessions_deleted_respects_user(seeded: Target) -> None:
    seeded.kern("delete", "notes")
    seeded.kern("delete", "research")
    rows = seeded.kern("--user", "bob", "sessions", "--deleted", "--json").json()
    assert [row["session_id"] for row in rows] == ["notes"]
    assert seeded.kern("--user", "carol", "sessions", "--deleted", "--json").json() == []


def test_sessions_deleted_pages(seeded: Target) -> None:
    seeded.kern("delete", "notes")
    seeded.kern("delete", "research")
    first = seeded.kern("sessions", "--deleted", "--limit", "1", "--json")
    assert [row["session_id"] for row in first.json()] == ["research"]
    assert "--page 2" in first.err
    second = seeded.kern("sessions", "--deleted", "--limit", "1", "--page", "2", "--json")
    assert [row["session_id"] for row in second.json()] == ["notes"]


def test_sessions_deleted_refuses_the_live_listings_sort_and_name_options(
    seeded: Target,
) -> None:
    result = seeded.kern("sessions", "--deleted", "--sort-by", "session_id")
    assert result.status == 2
    assert result.err == (
        "kern: error: --deleted lists the most recently deleted first and takes "
        "--workflow-id, --limit and --page only\n"
    )
