"""``kern erase --purge`` and ``kern erasures``: a session's log deleted and the
purge recorded, the ledger listed; admin only, and bad input refused before
anything is written."""

from __future__ import annotations

import pytest

from tests.contract.cli.conftest import Target


def test_erase_purges_a_session_and_the_ledger_lists_it(seeded: Target) -> None:
    """The purge prints its erasure; the session is gone; the ledger shows it."""
    result = seeded.kern(
        "erase", "--session", "notes", "--purge", "--reason", "ticket 7", "--requested-by", "dpo"
    )
    assert result.status == 0, result.err
    assert result.out.startswith("purged session notes (its log ended at version 6)")
    assert seeded.db.store.read_records("notes") == []
    assert [s.session_id for s in seeded.db.get_sessions()] == ["research"]
    listed = seeded.kern("erasures", "--json").json()
    assert [(e["kind"], e["subject"], e["reason"], e["requested_by"]) for e in listed] == [
        ("purge", "notes", "ticket 7", "dpo")
    ]
    assert listed[0]["detail"]["purged_head_version"] == 6
    table = seeded.kern("erasures")
    assert table.status == 0 and "ticket 7" in table.out and "1 erasure(s) recorded" in table.out


def test_erase_as_json_prints_the_ledger_entry(seeded: Target) -> None:
    """Without --requested-by, the ledger names the command."""
    result = seeded.kern("erase", "--session", "notes", "--purge", "--reason", "t1", "--json")
    assert result.status == 0, result.err
    entry = result.json()
    assert (entry["subject"], entry["requested_by"]) == ("notes", "kern erase")
    assert seeded.db.erasures()[0].erasure_id == entry["erasure_id"]


def test_verify_says_a_purged_session_was_purged(seeded: Target) -> None:
    seeded.kern("erase", "--session", "notes", "--purge", "--reason", "ticket 7")
    result = seeded.kern("verify", "notes", "--json")
    assert result.status == 0
    (checked,) = result.json()["sessions"]
    assert checked["ok"] and checked["events"] == 0 and "ticket 7" in checked["purged"]
    assert "purged: purge" in seeded.kern("verify", "notes").out


def test_erase_refuses_what_it_cannot_do_and_changes_nothing(seeded: Target) -> None:
    """No --purge, --user, an unknown session, an over-long reason: nothing purged."""
    before = seeded.db.store.read_records("notes")
    refused = [
        (("erase", "--session", "notes", "--reason", "t1"), 2, "add --purge"),
        (("erase", "--session", "notes", "--purge", "--reason", "t1", "--user", "u"), 2, "--user"),
        (("erase", "--purge", "--reason", "t1"), 2, "--session"),
        (("erase", "--session", "nobody", "--purge", "--reason", "t1"), 1, "not found"),
        (("erase", "--session", "notes", "--purge", "--reason", "x" * 501), 2, "at most 500"),
        (("erasures", "--user", "u"), 2, "--user"),
    ]
    for argv, status, said in refused:
        result = seeded.kern(*argv)
        assert (result.status, said in result.err) == (status, True), (argv, result.err)
    with pytest.raises(SystemExit) as exited:  # argparse: --reason is required
        seeded.kern("erase", "--session", "notes", "--purge")
    assert exited.value.code == 2
    assert seeded.db.store.read_records("notes") == before
    assert seeded.kern("erasures", "--json").json() == []
