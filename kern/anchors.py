"""Anchors outside the database: Ed25519 keys, signed session heads, their files.

``db.anchor(private_key)`` signs every session's head; ``write_anchors`` keeps
it in a file; ``db.verify(anchors=read_anchors(path), public_key=...)``
fails every session whose log no longer reaches its anchored head.
"""

from __future__ import annotations

from kern.adapters.anchor_files import (
    generate_keys,
    load_private_key,
    load_public_key,
    read_anchors,
    write_anchors,
)
from kern.domain.anchors import AnchorSet, Head, SignedAnchors

__all__ = [
    "AnchorSet",
    "Head",
    "SignedAnchors",
    "generate_keys",
    "load_private_key",
    "load_public_key",
    "read_anchors",
    "write_anchors",
]
