"""``kern erase --purge`` and ``kern erasures``: a session's log deleted and the
purge recorded, the ledger listed; admin only, and bad input refused before
anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kern.crypto import ERASED, LocalKeyring
from kern.db.sqlite import SqliteDb
from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.cli.conftest import Target, run_kern


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
    """No --purge (and no keyring to erase with), two subjects, an unknown session, an
    over-long reason: nothing purged."""
    before = seeded.db.store.read_records("notes")
    refused = [
        (("erase", "--session", "notes", "--reason", "t1"), 1, "no keyring"),
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


def test_erase_with_a_keyring_destroys_keys_and_reads_need_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a store with a keyring: every command reads with the master key (from a file
    or $KERN_MASTER_KEY), and erase --user / --session / --older-than destroy keys."""
    key_file = tmp_path / "master.key"
    key_file.write_bytes(LocalKeyring.generate())
    db_file = tmp_path / "kern.db"
    with SqliteDb(db_file, keyring=LocalKeyring.from_file(key_file)) as db:
        workflow = Workflow(name="W", db=db, steps=[echo])
        workflow.run(input="alice's question", session_id="a1", user_id="alice")
        workflow.run(input="bob's question", session_id="b1", user_id="bob")
    keyed = ("--db", str(db_file), "--master-key-file", str(key_file))
    refused = run_kern(capsys, "show", "a1", "--db", str(db_file))
    assert refused.status == 1 and "holds encrypted sessions" in refused.err
    shown = run_kern(capsys, "show", "a1", *keyed, "--json")
    assert shown.status == 0 and "alice's question" in shown.out
    erased = run_kern(capsys, "erase", "--user", "alice", "--reason", "ticket 9", *keyed)
    assert erased.status == 0 and "erased 1 session(s)" in erased.out
    again = run_kern(capsys, "erase", "--user", "alice", "--reason", "ticket 9", *keyed)
    assert again.status == 0 and "nothing to erase" in again.out
    monkeypatch.setenv("KERN_MASTER_KEY", key_file.read_text())
    after = run_kern(capsys, "show", "a1", "--db", str(db_file), "--json")
    assert after.status == 0 and "alice's question" not in after.out and ERASED in after.out
    assert "bob's question" in run_kern(capsys, "show", "b1", "--db", str(db_file)).out
    retention = run_kern(
        capsys, "erase", "--older-than", "1s", "--reason", "90d", "--db", str(db_file)
    )
    assert retention.status == 0  # bob's session may or may not be a second old yet
    bad_age = run_kern(capsys, "erase", "--older-than", "soon", "--reason", "x", *keyed)
    assert bad_age.status == 2 and "is not an age" in bad_age.err
    ledger = run_kern(capsys, "erasures", "--db", str(db_file), "--json").json()
    assert ledger[0]["kind"] == "erase_user" and "alice" not in str(ledger[0]["detail"])
    assert run_kern(capsys, "verify", "--db", str(db_file)).status == 0


def test_export_keys_and_import_with_the_source_master_key_move_an_encrypted_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source_key, target_key = tmp_path / "source.key", tmp_path / "target.key"
    source_key.write_bytes(LocalKeyring.generate())
    target_key.write_bytes(LocalKeyring.generate())
    with SqliteDb(tmp_path / "source.db", keyring=LocalKeyring.from_file(source_key)) as db:
        Workflow(name="W", db=db, steps=[echo]).run(
            input="alice's question", session_id="a1", user_id="alice"
        )
    source = ("--db", str(tmp_path / "source.db"), "--master-key-file", str(source_key))
    target = ("--db", str(tmp_path / "target.db"), "--master-key-file", str(target_key))
    exported = tmp_path / "export.jsonl"
    result = run_kern(capsys, "export", "--keys", "-o", str(exported), *source)
    assert result.status == 0 and "Exported 4 event(s) of 1 session(s)" in result.out
    text = exported.read_text()
    assert len(text.splitlines()) == 5 and '"data_keys"' in text.splitlines()[0]
    assert "alice's question" not in text
    refused = run_kern(capsys, "import", str(exported), *target)
    assert refused.status == 1 and "--source-master-key-file" in refused.err
    moved = run_kern(
        capsys, "import", str(exported), "--source-master-key-file", str(source_key), *target
    )
    assert moved.status == 0, moved.err
    shown = run_kern(capsys, "show", "a1", *target, "--json")
    assert shown.status == 0 and "alice's question" in shown.out
    otel = run_kern(capsys, "export", "--keys", "--format", "otel", *source)
    assert otel.status == 2 and "--keys goes with the jsonl format" in otel.err
