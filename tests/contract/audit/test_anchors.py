"""Anchors: signed session heads kept outside the database catch what the hash
chain alone cannot, on every store: a log cut short with its listing fixed, a
log rewritten with every later hash recomputed, a session removed whole; and a
changed anchor file, or the wrong key, is refused before anything is checked.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from kern.adapters.stores.memory import InMemoryStore
from kern.anchors import SignedAnchors, read_anchors, write_anchors
from kern.db import KernDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.domain.encoding import encode_json, link_hash
from kern.errors import AnchorFileError, AnchorSignatureError, InvalidInputError
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL
from tests.contract.audit.conftest import Tampering, run_twice
from tests.contract.kinds import STORED_BYTES

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """Sessions s1 and s2, two runs each (versions 1-9)."""
    workflow = make_workflow()
    run_twice(workflow, "s1")
    run_twice(workflow, "s2")
    return workflow


@pytest.fixture
def anchors(db: KernDb, workflow: Workflow) -> SignedAnchors:
    """Both sessions' heads, signed with KEY."""
    return db.anchor(KEY)


def failures(db: KernDb, anchors: Any = None) -> dict[str, tuple[int | None, str | None]]:
    """session_id -> (first bad version, problem) of every session that failed."""
    kwargs = {} if anchors is None else {"anchors": anchors, "public_key": KEY.public_key()}
    report = db.verify(**kwargs)
    return {s.session_id: (s.first_bad_version, s.problem) for s in report.failed}


# -- listing edits, store by store (the events are edited through Tampering) -----


def _listing_sql(db: KernDb, statement: str, params: list[Any]) -> None:
    """Run ``statement`` on the listing table ({index}) straight in the database."""
    if isinstance(db, SqliteDb):
        with sqlite3.connect(db.db_file) as connection:
            connection.execute(statement.format(index=f"{db.session_table}_index"), params)
        connection.close()
        return
    assert isinstance(db, PostgresDb)
    index = sql.Identifier(db.db_schema, f"{db.session_table}_index")
    with psycopg.connect(POSTGRES_URL) as pg:
        pg.execute(sql.SQL(statement.replace("?", "%s")).format(index=index), params, prepare=False)


def set_listed_version(db: KernDb, session_id: str, version: int) -> None:
    """Make the listing row agree with a truncated log, as a careful attacker would:
    its version and its last change both those of the new last event."""
    updated_at = db.store.read(session_id, upto=version)[-1].timestamp.timestamp()
    if isinstance(db.store, InMemoryStore):
        index = db.store.recorder.index
        index[session_id] = dataclasses.replace(
            index[session_id], version=version, updated_at=updated_at
        )
        return
    _listing_sql(
        db,
        "UPDATE {index} SET version = ?, updated_at = ? WHERE session_id = ?",
        [version, updated_at, session_id],
    )


def remove_listing(db: KernDb, session_id: str) -> None:
    """Remove the session's listing row."""
    if isinstance(db.store, InMemoryStore):
        del db.store.recorder.index[session_id]
        return
    _listing_sql(db, "DELETE FROM {index} WHERE session_id = ?", [session_id])


def rewrite_and_rehash(tampering: Tampering, session_id: str, version: int) -> None:
    """Change the content at ``version`` and recompute every hash from there on,
    as an attacker who knows the chain's rule would: the chain still holds."""
    records = tampering.db.store.read_records(session_id)
    previous = json.loads(records[version - 2].state)["hash"]
    for record in records[version - 1 :]:
        data = json.loads(record.state)
        del data["hash"]
        if record.version == version:
            data["content"]["value"] = "echo: forged"
        payload = encode_json(data)
        previous = link_hash(previous, record.topic, session_id, record.version, payload)
        state = payload[:-1] + b',"hash":' + encode_json(previous) + b"}"
        tampering.tamper.rewrite(session_id, record.version, record.topic, state)


# -- clean ---------------------------------------------------------------------


def test_every_session_reaches_its_anchored_head(db: KernDb, anchors: SignedAnchors) -> None:
    report = db.verify(anchors=anchors, public_key=KEY.public_key())

    assert report.ok
    assert [h.session_id for h in anchors.anchors.heads] == ["s1", "s2"]
    assert [h.version for h in anchors.anchors.heads] == [9, 9]


def test_a_log_that_grew_after_the_anchor_still_reaches_it(
    db: KernDb, workflow: Workflow, anchors: SignedAnchors
) -> None:
    workflow.run(input="later", session_id="s1")
    workflow.run(input="new", session_id="s3")

    assert db.verify(anchors=anchors, public_key=KEY.public_key()).ok


def test_anchors_survive_their_file(
    db: KernDb, anchors: SignedAnchors, tmp_path: Path, tampering: Tampering
) -> None:
    """Written, read back, and checked by a fresh process's KernDb."""
    write_anchors(tmp_path / "anchors.json", anchors)

    document = read_anchors(tmp_path / "anchors.json")

    assert tampering.fresh().verify(anchors=document, public_key=KEY.public_key()).ok


def test_verifying_one_session_checks_only_its_anchor(
    db: KernDb, anchors: SignedAnchors, tampering: Tampering
) -> None:
    for version in range(1, 10):
        tampering.delete("s2", version)
    remove_listing(db, "s2")

    fresh = tampering.fresh()
    assert fresh.verify("s1", anchors=anchors, public_key=KEY.public_key()).ok


# -- tampered logs ---------------------------------------------------------------


def test_catches_a_truncated_log_whose_listing_was_fixed(
    db: KernDb, anchors: SignedAnchors, tampering: Tampering
) -> None:
    tampering.delete("s1", 9)
    tampering.delete("s1", 8)
    set_listed_version(db, "s1", 7)
    fresh = tampering.fresh()

    assert failures(fresh) == {}  # the chain alone cannot see it
    version, problem = failures(fresh, anchors)["s1"]

    assert version == 9
    assert problem is not None and problem.startswith("truncated: the log ends at version 7")


@STORED_BYTES
def test_catches_a_rewrite_with_every_later_hash_recomputed(
    db: KernDb, anchors: SignedAnchors, tampering: Tampering
) -> None:
    rewrite_and_rehash(tampering, "s1", 3)
    fresh = tampering.fresh()
    assert b"echo: forged" in fresh.store.read_records("s1")[2].state

    assert failures(fresh) == {}  # the chain alone verifies
    found = failures(fresh, anchors)

    assert list(found) == ["s1"]
    version, problem = found["s1"]
    assert version == 9
    assert problem is not None and problem.startswith("rewritten: the hash at version 9")


def test_catches_a_session_removed_whole(
    db: KernDb, anchors: SignedAnchors, tampering: Tampering
) -> None:
    for each in range(1, 10):
        tampering.delete("s2", each)
    remove_listing(db, "s2")
    fresh = tampering.fresh()

    assert failures(fresh) == {}  # nothing left to check
    version, problem = failures(fresh, anchors)["s2"]

    assert version == 9
    assert problem is not None and problem.startswith("missing: the session is gone")


def test_verifying_one_session_that_is_gone_reports_it_missing(
    db: KernDb, anchors: SignedAnchors, tampering: Tampering
) -> None:
    """Not SessionNotFoundError: with anchors, a vanished session is a finding."""
    for each in range(1, 10):
        tampering.delete("s2", each)
    remove_listing(db, "s2")

    report = tampering.fresh().verify("s2", anchors=anchors, public_key=KEY.public_key())

    assert [(s.session_id, s.ok) for s in report.sessions] == [("s2", False)]
    assert report.sessions[0].problem is not None
    assert report.sessions[0].problem.startswith("missing")


# -- the anchor file itself --------------------------------------------------------


def test_refuses_an_anchor_file_changed_after_signing(db: KernDb, anchors: SignedAnchors) -> None:
    """Lowering an anchored version, to hide a truncation, breaks the signature."""
    document = anchors.to_json()
    document["heads"][0]["version"] = 7

    with pytest.raises(AnchorSignatureError, match="does not verify"):
        db.verify(anchors=document, public_key=KEY.public_key())


def test_refuses_an_anchor_file_with_a_session_left_out(db: KernDb, anchors: SignedAnchors) -> None:
    document = anchors.to_json()
    del document["heads"][1]

    with pytest.raises(AnchorSignatureError):
        db.verify(anchors=document, public_key=KEY.public_key())


def test_refuses_anchors_checked_with_another_key(db: KernDb, anchors: SignedAnchors) -> None:
    other = Ed25519PrivateKey.generate().public_key()

    with pytest.raises(AnchorSignatureError):
        db.verify(anchors=anchors.to_json(), public_key=other)


def test_refuses_a_document_that_is_not_an_anchor_file(db: KernDb, workflow: Workflow) -> None:
    with pytest.raises(AnchorFileError, match="not a Kern anchor document"):
        db.verify(anchors={"heads": []}, public_key=KEY.public_key())


def test_anchors_without_a_public_key_are_refused(db: KernDb, anchors: SignedAnchors) -> None:
    with pytest.raises(InvalidInputError, match="both anchors and public_key"):
        db.verify(anchors=anchors)
