"""``kern keygen``, ``kern anchor`` and ``kern verify --anchors``: keys written
safely, heads signed into a file, and logs (or anchor files) that changed since
reported with exit status 1."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.contract.cli.conftest import Target, run_kern


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """A key pair written by ``kern keygen``."""
    private, public = tmp_path / "anchor.pem", tmp_path / "anchor.pub"
    result = run_kern(capsys, "keygen", str(private), str(public))
    assert result.status == 0, result.err
    return private, public


@pytest.fixture
def anchored(seeded: Target, keys: tuple[Path, Path], tmp_path: Path) -> Path:
    """The seeded sessions' heads, signed into anchors.json."""
    path = tmp_path / "anchors.json"
    result = seeded.kern("anchor", "-o", str(path), "--key", str(keys[0]))
    assert result.status == 0, result.err
    assert "Anchored the heads of 2 session(s)" in result.out
    return path


def test_keygen_writes_a_private_key_only_its_owner_can_read(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keygen_never_overwrites_a_key(
    keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = keys[0].read_bytes()
    result = run_kern(capsys, "keygen", str(keys[0]), str(keys[1]))
    assert result.status == 1
    assert "never overwritten" in result.err
    assert keys[0].read_bytes() == before


def test_verify_with_anchors_passes_on_an_untouched_database(
    seeded: Target, anchored: Path, keys: tuple[Path, Path]
) -> None:
    result = seeded.kern("verify", "--anchors", str(anchored), "--public-key", str(keys[1]))
    assert result.status == 0, result.err
    assert "every hash chain is intact and reaches its anchored head" in result.out


def test_verify_reports_a_log_cut_short_behind_the_chain(
    seeded_sqlite: Target, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """The last event of "notes" deleted and its listing row fixed to match (version
    and last change): the chain alone passes, the anchors fail it (exit status 1,
    the session named)."""
    path = tmp_path / "anchors.json"
    assert seeded_sqlite.kern("anchor", "-o", str(path), "--key", str(keys[0])).status == 0
    db_file = seeded_sqlite.options[1]
    with sqlite3.connect(db_file) as connection:
        connection.execute("DROP TRIGGER IF EXISTS kern_sessions_events_no_delete")
        connection.execute(
            "DELETE FROM kern_sessions_events WHERE originator_id = 'notes' "
            "AND originator_version = 6"
        )
        fifth = seeded_sqlite.db.get_events("notes")[4].timestamp.timestamp()
        connection.execute(
            "UPDATE kern_sessions_index SET version = 5, updated_at = ? WHERE session_id = 'notes'",
            [fifth],
        )
    connection.close()
    assert seeded_sqlite.kern("verify").status == 0

    result = seeded_sqlite.kern("verify", "--anchors", str(path), "--public-key", str(keys[1]))

    assert result.status == 1
    assert "truncated: the log ends at version 5" in result.out
    assert "1 of 2 session(s) FAILED verification" in result.out


def test_verify_refuses_a_changed_anchor_file(
    seeded: Target, anchored: Path, keys: tuple[Path, Path]
) -> None:
    document = json.loads(anchored.read_text())
    document["heads"][0]["version"] = 1
    anchored.write_text(json.dumps(document))

    result = seeded.kern("verify", "--anchors", str(anchored), "--public-key", str(keys[1]))

    assert result.status == 1
    assert "signature does not verify" in result.err


def test_verify_refuses_the_wrong_public_key(
    seeded: Target, anchored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_kern(capsys, "keygen", str(tmp_path / "other.pem"), str(tmp_path / "other.pub"))

    result = seeded.kern(
        "verify", "--anchors", str(anchored), "--public-key", str(tmp_path / "other.pub")
    )

    assert result.status == 1
    assert "signature does not verify" in result.err


def test_verify_needs_both_anchor_options(seeded: Target, anchored: Path) -> None:
    result = seeded.kern("verify", "--anchors", str(anchored))
    assert result.status == 2
    assert "--anchors and --public-key go together" in result.err


def test_a_public_key_is_not_a_signing_key(
    seeded: Target, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    result = seeded.kern("anchor", "-o", str(tmp_path / "a.json"), "--key", str(keys[1]))
    assert result.status == 1
    assert "is not a PEM private key" in result.err
    assert not (tmp_path / "a.json").exists()


def test_keygen_writes_nothing_when_the_public_key_file_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No private key left behind whose public half was never written."""
    (tmp_path / "anchor.pub").write_text("someone else's")
    result = run_kern(capsys, "keygen", str(tmp_path / "anchor.pem"), str(tmp_path / "anchor.pub"))
    assert result.status == 1
    assert not (tmp_path / "anchor.pem").exists()
