"""Per-user encryption and forgetting: a keyring for ``SqliteDb(..., keyring=...)``
and ``PostgresDb(..., keyring=...)``, the marker erased values read back as, and
the erasure ledger's entries. See docs/privacy.md."""

from __future__ import annotations

from kern.adapters.keyring import LocalKeyring
from kern.application.keys import Keyring, KeyRow, RotatingKeyring
from kern.domain.erasure import ErasureEntry
from kern.domain.sealing import ERASED

__all__ = ["ERASED", "ErasureEntry", "KeyRow", "Keyring", "LocalKeyring", "RotatingKeyring"]
