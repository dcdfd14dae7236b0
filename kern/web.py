"""Kern over HTTP: :func:`create_app` builds the read-only JSON API and the web
timeline as one ASGI app, to serve with ``kern serve`` or mount in a service.
Needs ``kern[web]`` (FastAPI and uvicorn)."""

from __future__ import annotations

try:
    from kern.adapters.web.app import UserOf, create_app
except ModuleNotFoundError as exc:  # FastAPI is an optional dependency
    raise ModuleNotFoundError(
        f"kern.web needs FastAPI and uvicorn ({exc}): pip install 'kern[web]'"
    ) from exc

__all__ = ["UserOf", "create_app"]
