"""Anchor and key files: Ed25519 keys as PEM files, signed anchors as one JSON document.

The private key is written with mode 0600 and never over an existing file.
An anchor file is written through a temporary file and renamed, so a reader
never sees half of one. Every problem with a file raises AnchorFileError.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kern.domain.anchors import SignedAnchors
from kern.domain.encoding import encode_json
from kern.domain.errors import AnchorFileError

PathLike = str | os.PathLike[str]


def generate_keys(private_path: PathLike, public_path: PathLike) -> Ed25519PublicKey:
    """A new Ed25519 key pair: the private key (PEM, mode 0600) and the public key
    (PEM) written to new files; the public key returned."""
    for path in (Path(private_path), Path(public_path)):
        if path.exists():
            raise AnchorFileError(f"{str(path)!r} exists; a key file is never overwritten")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(Path(private_path), private_pem, 0o600)
    _write_new(Path(public_path), public_pem, 0o644)
    return key.public_key()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise AnchorFileError(f"{str(path)!r} exists; a key file is never overwritten") from None
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.chmod(path, mode)  # whatever the umask allowed


def load_private_key(path: PathLike) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file at ``path`` (unencrypted PKCS8)."""
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError) as exc:
        raise AnchorFileError(f"{str(path)!r} is not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorFileError(f"{str(path)!r} holds a key that is not Ed25519")
    return key


def load_public_key(path: PathLike) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file at ``path``."""
    try:
        key = serialization.load_pem_public_key(_read(path))
    except (ValueError, TypeError) as exc:
        raise AnchorFileError(f"{str(path)!r} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorFileError(f"{str(path)!r} holds a key that is not Ed25519")
    return key


def write_anchors(path: PathLike, anchors: SignedAnchors) -> None:
    """Write the anchor document to ``path`` (replacing it whole, never half-written)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encode_json(anchors.to_json()) + b"\n")
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_anchors(path: PathLike) -> dict[str, Any]:
    """The anchor document at ``path``; its signature is checked by verify."""
    try:
        document = json.loads(_read(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnchorFileError(f"{str(path)!r} is not a JSON anchor document ({exc})") from None
    if not isinstance(document, dict):
        raise AnchorFileError(f"{str(path)!r} is not a JSON anchor document")
    return document


def _read(path: PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AnchorFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
