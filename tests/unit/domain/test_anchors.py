"""Anchors, the pure parts: what is signed, how a head is compared with a log,
and which documents are refused before any signature is checked."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kern.application.anchors import trusted
from kern.domain.anchors import AnchorSet, Head, SignedAnchors, head_problem, signed_bytes
from kern.domain.encoding import encode_json
from kern.domain.errors import AnchorFileError, AnchorSignatureError
from kern.domain.records import Record


def record(version: int, hash_: str) -> Record:
    return Record("s", version, "topic", encode_json({"x": version, "hash": hash_}))


LOG = [record(1, "h1"), record(2, "h2"), record(3, "h3")]


def test_a_log_reaching_its_head_has_no_problem() -> None:
    assert head_problem(Head("s", 3, "h3"), LOG) is None


def test_a_log_that_grew_since_still_reaches_its_head() -> None:
    assert head_problem(Head("s", 2, "h2"), LOG) is None


def test_a_shorter_log_is_truncated() -> None:
    problem = head_problem(Head("s", 3, "h3"), LOG[:2])
    assert problem == "truncated: the log ends at version 2, shorter than the anchored version 3"


def test_another_hash_at_the_anchored_version_is_a_rewrite() -> None:
    problem = head_problem(Head("s", 2, "h2"), [LOG[0], record(2, "forged"), LOG[2]])
    assert problem is not None and problem.startswith("rewritten: the hash at version 2")


def test_no_records_is_missing() -> None:
    problem = head_problem(Head("s", 3, "h3"), [])
    assert problem is not None and problem.startswith("missing")


def test_the_signed_bytes_are_canonical_and_exclude_the_signature() -> None:
    anchors = AnchorSet("2026-01-01T00:00:00+00:00", (Head("s", 3, "h3"),))
    assert signed_bytes(anchors) == (
        b'{"format":"kern-anchors/1","anchored_at":"2026-01-01T00:00:00+00:00",'
        b'"heads":[{"session_id":"s","version":3,"hash":"h3"}]}'
    )


def document(**changes: Any) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    anchors = AnchorSet("2026-01-01T00:00:00+00:00", (Head("s", 3, "h3"),))
    doc = SignedAnchors(anchors, key.sign(signed_bytes(anchors))).to_json()
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "something-else"},
        {"heads": "not a list"},
        {"heads": [{"session_id": "s", "version": 0, "hash": "h"}]},
        {"heads": [{"session_id": "s", "version": True, "hash": "h"}]},
        {"signature": None},
        {"signature": "not base64!"},
    ],
)
def test_refuses_a_malformed_document(changes: dict[str, Any]) -> None:
    with pytest.raises(AnchorFileError):
        trusted(document(**changes), Ed25519PrivateKey.generate().public_key())


def test_refuses_a_signature_of_other_bytes() -> None:
    other = base64.b64encode(Ed25519PrivateKey.generate().sign(b"other")).decode()
    with pytest.raises(AnchorSignatureError):
        trusted(document(signature=other), Ed25519PrivateKey.generate().public_key())


def test_refuses_a_key_that_is_not_ed25519() -> None:
    with pytest.raises(AnchorFileError, match="Ed25519 public key"):
        trusted(document(), "not a key")  # type: ignore[arg-type]
