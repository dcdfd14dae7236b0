"""``kern serve``: the HTTP API and the web timeline (:mod:`kern.adapters.web`) on
uvicorn.

Who is asking must be settled before anything is served: behind a proxy that
authenticates users, ``--trust-user-header NAME`` takes the user id from that
request header and scopes every read to it; ``--admin`` serves every user's
sessions unscoped, and only on a loopback address (so only this machine can
ask). With neither, or both, it refuses to start and says why.
"""

from __future__ import annotations

import argparse
import ipaddress

from kern.adapters.cli.output import Output
from kern.adapters.cli.targets import UsageError
from kern.application.sessions import KernDb

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
GRACEFUL_SHUTDOWN = 5
"""Seconds a stopping server waits for open responses: a browser showing the latest
version of a session keeps an event stream open until it is told to go."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_options(args: argparse.Namespace) -> None:
    """UsageError unless exactly one way of knowing who is asking was chosen, and
    ``--admin`` only on a loopback address."""
    header = args.trust_user_header
    if header is not None and not header.strip():
        raise UsageError("--trust-user-header needs a header name, such as X-Forwarded-User")
    if header is None and not args.admin:
        raise UsageError(
            "kern serve needs to know who is asking: --trust-user-header NAME (behind a proxy "
            "that authenticates users and sets that header; each user sees only their "
            "sessions) or --admin (every user's sessions, on a loopback address only)"
        )
    if header is not None and args.admin:
        raise UsageError("choose one of --trust-user-header and --admin, not both")
    if args.admin and not is_loopback(args.host):
        raise UsageError(
            f"--admin serves every user's sessions unscoped, so only on a loopback address "
            f"(127.0.0.1, ::1 or localhost), not --host {args.host}"
        )
    if args.user is not None:
        raise UsageError("--user does not apply to serve: each request says who is asking")


def serve(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """Serve ``db`` until interrupted."""
    try:
        import uvicorn

        from kern.adapters.web.app import create_app
    except ModuleNotFoundError as exc:  # the web extra is optional
        raise UsageError(
            f"kern serve needs FastAPI and uvicorn ({exc}): pip install 'kern[web]'"
        ) from None
    # A store that is not there (PostgreSQL looks on first use) fails now, with
    # "no Kern store here", rather than on every request.
    db.get_sessions(limit=1)
    header: str | None = args.trust_user_header
    if header is not None:
        name = header.strip()
        app = create_app(db, user=lambda request: request.headers.get(name))
    else:
        app = create_app(db, admin=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    return 0
