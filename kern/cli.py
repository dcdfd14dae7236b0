"""The ``kern`` console script; the commands live in kern.adapters.cli."""

from __future__ import annotations

from kern.adapters.cli.main import main

__all__ = ["main"]
