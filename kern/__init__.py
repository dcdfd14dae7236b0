"""Kern: workflow sessions kept as append-only event logs.

The public modules follow the workflow-session API: ``kern.workflow``,
``kern.session``, ``kern.run`` and the stores under ``kern.db``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kern")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
