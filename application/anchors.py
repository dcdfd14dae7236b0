"""Anchoring: sign every session's head with an Ed25519 key, and check logs
against signed heads (see :mod:`kern.domain.anchors` for what is signed).

Signing and checking a signature are computation, not I/O, so they sit here,
through the ``cryptography`` package; reading and writing anchor and key files
is the adapters' job (:mod:`kern.adapters.anchor_files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kern.application.erasure import covers, purged_note
from kern.application.ports import SessionStore
from kern.domain.anchors import (
    AnchorSet,
    SignedAnchors,
    head_of,
    head_problem,
    parse_document,
    signed_bytes,
)
from kern.domain.chain import SessionVerification, VerifyReport
from kern.domain.erasure import PURGE
from kern.domain.errors import AnchorFileError, AnchorSignatureError

Anchors = SignedAnchors | Mapping[str, Any]
"""Signed anchors as :meth:`KernDb.anchor` returns them, or their JSON document."""


def anchor(store: SessionStore, private_key: Ed25519PrivateKey) -> SignedAnchors:
    """The signed heads of every session in ``store``, deleted ones too, now."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise AnchorFileError("anchors are signed with an Ed25519 private key")
    heads = []
    for session_id in store.session_ids():
        last = store.last_record(session_id)
        if last is not None:
            heads.append(head_of(last))
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    anchors = AnchorSet(now, tuple(heads))
    return SignedAnchors(anchors, private_key.sign(signed_bytes(anchors)))


def trusted(anchors: Anchors, public_key: Ed25519PublicKey) -> AnchorSet:
    """The anchor set, once its signature verifies with ``public_key``
    (AnchorSignatureError otherwise, AnchorFileError for a malformed document)."""
    if not isinstance(public_key, Ed25519PublicKey):
        raise AnchorFileError("anchors are checked with an Ed25519 public key")
    if isinstance(anchors, SignedAnchors):
        anchor_set, signature = anchors.anchors, anchors.signature
    else:
        anchor_set, signature = parse_document(dict(anchors))
    try:
        public_key.verify(signature, signed_bytes(anchor_set))
    except InvalidSignature:
        raise AnchorSignatureError(
            "the anchor file's signature does not verify with this public key: the file "
            "was changed after it was signed, or the key is not the signer's; "
            "nothing was checked against it"
        ) from None
    return anchor_set


def check(
    store: SessionStore,
    report: VerifyReport,
    anchors: AnchorSet,
    session_id: str | None = None,
) -> VerifyReport:
    """``report`` with each session whose log no longer reaches its anchored head
    failed (a chain failure already found is kept), and anchored sessions that
    are gone added (only ``session_id``'s anchor when one session is verified).

    A session that is gone because the erasure ledger records its purge is
    reported ok and ``purged`` when the purged head is at or after the anchored
    one; a purge of an earlier head is still a finding."""
    by_id = {checked.session_id: checked for checked in report.sessions}
    heads = [h for h in anchors.heads if session_id is None or h.session_id == session_id]
    erasures = {e.subject: e for e in store.erasures() if e.kind == PURGE}
    anchored_at = datetime.fromisoformat(anchors.anchored_at)
    for head in heads:
        checked = by_id.get(head.session_id)
        if checked is not None and not checked.ok:
            continue
        records = store.read_records(head.session_id)
        problem = head_problem(head, records)
        if problem is None:
            continue
        events = checked.events if checked is not None else 0
        purge = erasures.get(head.session_id) if not records else None
        if purge is not None and covers(purge, head, anchored_at):
            by_id[head.session_id] = SessionVerification(
                head.session_id, True, 0, purged=purged_note(purge)
            )
            continue
        if purge is not None:
            problem = (
                f"purged, but not at or after its anchored head: the ledger's purge "
                f"removed the log up to version {purge.detail.get('purged_head_version')}, "
                f"the anchor at {anchors.anchored_at} names version {head.version} "
                f"({purge.describe()})"
            )
        failed = SessionVerification(head.session_id, False, events, head.version, problem)
        by_id[head.session_id] = failed
    return VerifyReport(list(by_id.values()))
