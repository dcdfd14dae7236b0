"""``LocalKeyring``: a master key held in this process, wrapping data keys with
AES-256-GCM (the ``cryptography`` package). For a master key that never leaves
a KMS, implement :class:`kern.application.keys.Keyring` over its wrap and
unwrap calls instead."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kern.application.keys import Keyring
from kern.domain.errors import KeyringError

MASTER_KEY_BYTES = 32
_NONCE = 12


class LocalKeyring(Keyring):
    """Data keys wrapped by one 32-byte master key. Keep the master key out of the
    database (an environment variable, a file only the service may read)."""

    def __init__(self, master_key: bytes) -> None:
        if not isinstance(master_key, bytes | bytearray):
            raise KeyringError(
                f"master_key must be {MASTER_KEY_BYTES} bytes, got {type(master_key).__name__}"
            )
        if len(master_key) != MASTER_KEY_BYTES:
            raise KeyringError(
                f"master_key must be {MASTER_KEY_BYTES} bytes, got {len(master_key)}"
            )
        self._aead = AESGCM(bytes(master_key))
        # An id of the key that reveals nothing of it: a hash under a fixed label.
        digest = hashlib.sha256(b"kern master key id\n" + bytes(master_key)).hexdigest()
        self._id = f"local-{digest[:16]}"

    @classmethod
    def generate(cls) -> bytes:
        """A new master key, as base64 text to keep in a secret store."""
        return base64.b64encode(AESGCM.generate_key(bit_length=8 * MASTER_KEY_BYTES))

    @classmethod
    def from_text(cls, text: str | bytes, *, where: str = "the master key") -> LocalKeyring:
        """A keyring from base64 text of 32 bytes (what :meth:`generate` gives)."""
        raw = text.strip() if isinstance(text, bytes) else text.strip().encode()
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{where} is not base64 text of 32 bytes") from None
        if len(key) != MASTER_KEY_BYTES:
            raise KeyringError(
                f"{where} decodes to {len(key)} bytes; a master key is {MASTER_KEY_BYTES}"
            )
        return cls(key)

    @classmethod
    def from_env(cls, name: str = "KERN_MASTER_KEY") -> LocalKeyring:
        """A keyring from the environment variable ``name`` (base64 of 32 bytes)."""
        value = os.environ.get(name)
        if not value:
            raise KeyringError(f"the environment variable {name} holds no master key")
        return cls.from_text(value, where=f"${name}")

    @classmethod
    def from_file(cls, path: str | Path) -> LocalKeyring:
        """A keyring from a file holding the base64 text of the master key."""
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise KeyringError(f"cannot read the master key file {str(path)!r}: {exc}") from None
        return cls.from_text(text, where=f"the master key file {str(path)!r}")

    @property
    def master_key_id(self) -> str:
        return self._id

    def wrap(self, secret: bytes, subject: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, secret, subject.encode())

    def unwrap(self, wrapped: bytes, subject: str, master_key_id: str) -> bytes:
        if master_key_id != self._id:
            raise KeyringError(
                f"the data key of {subject!r} is wrapped by master key {master_key_id!r}, "
                f"not by this keyring's ({self._id!r})"
            )
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], subject.encode())
        except InvalidTag:
            raise KeyringError(
                f"the data key of {subject!r} does not unwrap: its stored bytes were changed"
            ) from None
