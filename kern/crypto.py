"""Per-user encryption: a keyring for ``SqliteDb(..., keyring=...)`` and
``PostgresDb(..., keyring=...)``. See docs/privacy.md."""

from __future__ import annotations

from kern.adapters.keyring import LocalKeyring
from kern.application.keys import Keyring, KeyRow
from kern.domain.sealing import ERASED

__all__ = ["ERASED", "KeyRow", "Keyring", "LocalKeyring"]
