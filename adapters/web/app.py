"""Kern over HTTP: a read-only JSON API and the web timeline, as one ASGI app.

:func:`create_app` builds a FastAPI application on a :class:`KernDb` (its
calls run on Starlette's thread pool) or an :class:`AsyncKernDb` (awaited on
the loop). Every route is a GET: nothing is ever written through it.

Who is asking decides what is visible, exactly as in the Python API: the app
takes a function from the request to a user id and passes that id to every
call, so another user's session is a 404, the same answer as a session that
does not exist. ``admin=True`` instead reads every user's sessions unscoped.

Errors are JSON, ``{"error": {"type": ..., "message": ...}}``: 400 for bad
input (naming the parameter and what was wrong), 401 when the request names
no user, 404 for a session, run or step that is not there (or not the
caller's), 503 when the database cannot be reached. No traceback is ever
sent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import kern
from kern.adapters.web import schemas
from kern.application.async_sessions import AsyncKernDb
from kern.application.sessions import KernDb
from kern.domain.errors import (
    InvalidInputError,
    KernError,
    SessionNotFoundError,
    StoreUnavailableError,
)
from kern.domain.events import EVENT_CLASSES, SessionDeleted
from kern.domain.values import AsOf, parse_as_of
from kern.projections.listing import MAX_LIMIT
from kern.projections.log import LogEntry
from kern.projections.session import WorkflowSession

STATIC = Path(__file__).parent / "static"
"""The web timeline's files: HTML, CSS and JavaScript, shipped in the wheel."""

DEFAULT_PAGE = 20
"""Sessions per page of ``/api/sessions`` when ``limit`` is not given."""

DEFAULT_EVENTS = 100
"""Events per page of ``/api/sessions/{id}/events`` when ``limit`` is not given."""

MAX_PAGE = 1000
"""The most sessions or events one request returns (a page is for reading, not for
copying a store: ``export`` streams a whole session)."""

KEEPALIVE = 15.0
"""Seconds between comment lines on a quiet event stream (proxies close idle ones)."""

UserOf = Callable[[Request], "str | Awaitable[str | None] | None"]
"""Who is asking: the user id a request acts as (None: the request names no user)."""


_JSON = TypeAdapter(Any)


def json_response(data: Any) -> Response:
    """``data`` (already JSON-ready) as a JSON response, serialized by pydantic-core
    in one pass (FastAPI's own path walks the value in Python first: ten times
    slower on a page of events)."""
    return Response(_JSON.dump_json(data), media_type="application/json")


class Unauthenticated(Exception):
    """The request names no user, and the app is scoped."""


def create_app(
    db: KernDb | AsyncKernDb,
    *,
    user: UserOf | None = None,
    admin: bool = False,
    poll_interval: float = 0.5,
    title: str = "Kern",
) -> FastAPI:
    """The read-only HTTP API and the web timeline for the sessions in ``db``.

    ``user`` is a function (plain or async) from the Starlette request to the
    user id it acts as; a request for which it returns None or "" gets a 401.
    ``admin=True`` serves every user's sessions unscoped (for an operator on a
    trusted network; a ``strict_users`` db refuses it). Exactly one of the two
    must be given. ``poll_interval`` is how often, in seconds, a live event
    stream looks for new events.
    """
    if (user is None) == (not admin):
        raise InvalidInputError(
            "create_app needs exactly one of user= (a function from the request to its "
            "user id) or admin=True (every user's sessions, unscoped)"
        )
    if user is not None and not callable(user):
        raise InvalidInputError(f"user must be a function of the request, got {user!r}")
    if admin and db.strict_users:
        raise InvalidInputError("admin=True reads every user's sessions: a strict_users db refuses")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float):
        raise InvalidInputError(f"poll_interval must be seconds, got {poll_interval!r}")
    if not 0 < poll_interval <= 60:
        raise InvalidInputError(f"poll_interval must be in (0, 60] seconds, got {poll_interval!r}")
    api = _Api(db, user, float(poll_interval))
    app = FastAPI(
        title=title,
        version=kern.__version__,
        description="Kern's sessions, read-only: listing, time travel, steps, diffs, audit.",
        docs_url=None,  # its pages load their scripts from a CDN; the JSON document is enough
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    _errors(app)
    _security_headers(app)
    _routes(app, api)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.state.kern = api
    return app


class _Api:
    """The calls behind the routes: one db, one way of knowing who is asking."""

    def __init__(self, db: KernDb | AsyncKernDb, user: UserOf | None, poll_interval: float):
        self.db = db
        self.user_of = user
        self.poll_interval = poll_interval

    @property
    def scoped(self) -> bool:
        return self.user_of is not None

    async def user(self, request: Request) -> str | None:
        """The user the request acts as (None when unscoped); Unauthenticated if none."""
        if self.user_of is None:
            return None
        found = self.user_of(request)
        if inspect.isawaitable(found):
            found = await found
        if found is None or found == "":
            raise Unauthenticated("this request names no user: Kern serves each user only theirs")
        user_id = self.db.user(found)
        assert user_id is not None
        return user_id

    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """``db.method(*args, **kwargs)``: awaited on an AsyncKernDb, on the thread
        pool for a KernDb (whose calls block on I/O)."""
        bound = getattr(self.db, method)
        if isinstance(self.db, AsyncKernDb):
            return await bound(*args, **kwargs)
        return await run_in_threadpool(bound, *args, **kwargs)

    async def require_head(self, session_id: str, user_id: str | None) -> int:
        """The session's last version; SessionNotFoundError when the user may not read it."""
        head = await self.call("head_version", session_id, user_id)
        if head is None:
            raise SessionNotFoundError.of(session_id)
        return int(head)

    async def export_lines(self, session_id: str, user_id: str | None) -> AsyncIterator[bytes]:
        """The session's export, a line at a time (checked before the first byte)."""
        if isinstance(self.db, AsyncKernDb):
            lines = await self.db.export(session_id, user_id=user_id)
            return _encoded(lines)
        sync_lines: Iterator[str] = await run_in_threadpool(
            self.db.export, session_id, user_id=user_id
        )
        return _encoded_from_thread(sync_lines)


async def _encoded(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for line in lines:
        yield (line + "\n").encode()


_END = object()


async def _encoded_from_thread(lines: Iterator[str]) -> AsyncIterator[bytes]:
    while (line := await run_in_threadpool(next, lines, _END)) is not _END:
        yield (str(line) + "\n").encode()


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _errors(app: FastAPI) -> None:
    """Every failure as a JSON error naming the problem; never a traceback."""

    @app.exception_handler(KernError)
    async def kern_error(request: Request, exc: KernError) -> JSONResponse:
        if isinstance(exc, LookupError):
            status = 404
        elif isinstance(exc, InvalidInputError):
            status = 400
        elif isinstance(exc, StoreUnavailableError):
            status = 503
        else:
            status = 409
        return _error(status, type(exc).__name__, str(exc))

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        return _error(401, "Unauthenticated", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "query")
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error(400, "InvalidInputError", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such path: {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed: the Kern API is read-only"
        return _error(exc.status_code, "HTTPError", message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette hands the exception on to the server after this, which logs it.
        return _error(500, "InternalError", "the server failed; its log has the details")


SECURITY_HEADERS = {
    # Everything the timeline loads comes from this server; no inline script runs,
    # so data that slipped into the page as markup still could not execute.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _security_headers(app: FastAPI) -> None:
    """Every answer tells the browser to load nothing from elsewhere and run no
    inline script, not to guess content types, and not to be framed."""

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _as_of(text: str | None) -> AsOf | None:
    if text is None:
        return None
    if not text.strip():
        raise InvalidInputError("as_of must be a version, an ISO 8601 time or a run_id, got ''")
    return parse_as_of(text)


def _summary(session: WorkflowSession) -> dict[str, Any]:
    runs = session.runs or []
    return {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "workflow_id": session.workflow_id,
        "workflow_name": session.workflow_name,
        "session_name": session.session_name,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "runs": len(runs),
        "last_status": str(runs[-1].status.value) if runs else None,
    }


def _sse(entry: LogEntry) -> bytes:
    data = json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {entry.version}\nevent: kern-event\ndata: {data}\n\n".encode()


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _routes(app: FastAPI, api: _Api) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get(
        "/api/info", summary="What this server is and who is asking", response_model=schemas.Info
    )
    async def info(request: Request) -> Response:
        return json_response(
            {
                "kern_version": kern.__version__,
                "scoped": api.scoped,
                "user_id": await api.user(request),
                "event_types": [cls.__name__ for cls in EVENT_CLASSES],
            }
        )

    @app.get(
        "/api/sessions",
        summary="Live sessions: filters, paging and sorting",
        response_model=schemas.SessionsPage,
    )
    async def sessions(
        request: Request,
        user_id: str | None = None,
        workflow_id: str | None = None,
        session_name: str | None = None,
        start_timestamp: float | None = None,
        end_timestamp: float | None = None,
        limit: Limit = DEFAULT_PAGE,
        page: Annotated[int, Query(ge=1)] = 1,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> Response:
        caller = await api.user(request)
        if caller is not None and user_id is not None and user_id != caller:
            # Another user's sessions: none the caller may see.
            return json_response({"sessions": [], "page": page, "limit": limit, "has_more": False})
        query = {
            "user_id": caller if caller is not None else user_id,
            "workflow_id": workflow_id,
            "session_name": session_name,
            "start_timestamp": start_timestamp,
            "end_timestamp": end_timestamp,
            "sort_by": sort_by,
            "sort_order": sort_order,
        }
        found = await api.call("get_sessions", **query, limit=limit, page=page)
        # The first session of the next page, if there is one: one more row read.
        following = page * limit + 1
        after = following <= MAX_LIMIT and await api.call(
            "get_sessions", **query, limit=1, page=following
        )
        return json_response(
            {
                "sessions": [_summary(s) for s in found],
                "page": page,
                "limit": limit,
                "has_more": bool(after),
            }
        )

    @app.get(
        "/api/sessions/{session_id}",
        summary="A session, now or as of a point",
        response_model=schemas.SessionAt,
    )
    async def session(
        request: Request,
        session_id: str,
        as_of: Annotated[
            str | None, Query(description="a version, an ISO 8601 time or a run_id")
        ] = None,
    ) -> Response:
        caller = await api.user(request)
        point = _as_of(as_of)
        found = await api.call("get_session", session_id, caller, as_of=point)
        if found is None:
            raise SessionNotFoundError.of(session_id)
        head = await api.require_head(session_id, caller)
        version = head if point is None else await api.call("resolve_as_of", session_id, point)
        return json_response(
            {"session": found.to_dict(), "version": version, "head_version": head, "as_of": as_of}
        )

    @app.get(
        "/api/sessions/{session_id}/events",
        summary="The session's event log, paged, by event type and run if asked",
        response_model=schemas.EventsPage,
    )
    async def events(
        request: Request,
        session_id: str,
        after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
        limit: Limit = DEFAULT_EVENTS,
        event_type: Annotated[
            list[str] | None, Query(description="only these event types (repeatable)")
        ] = None,
        run_id: Annotated[str | None, Query(description="only this run's events")] = None,
    ) -> Response:
        caller = await api.user(request)
        head = await api.require_head(session_id, caller)
        entries = await api.call(
            "get_log",
            session_id,
            caller,
            after=after,
            limit=limit,
            event_types=event_type,
            run_id=run_id,
        )
        if event_type or run_id is not None:
            # Filtered: a full page may have more after it; a short one is the end.
            more = len(entries) == limit
        else:
            more = (entries[-1].version if entries else after) < head
        return json_response(
            {
                "events": [entry.to_json() for entry in entries],
                "next_after": entries[-1].version if more and entries else None,
                "head_version": head,
            }
        )

    @app.get(
        "/api/sessions/{session_id}/runs/{run_id}/steps/{step_index}",
        summary="What a step saw: its input, starting state and output (a top-level "
        "step's index from 0, or the dotted path of a step inside a step primitive)",
    )
    async def step(
        request: Request,
        session_id: str,
        run_id: str,
        step_index: Annotated[
            str, PathParam(pattern=r"^(0|[1-9][0-9]{0,17})(\.[1-9][0-9]{0,17})*$")
        ],
    ) -> Response:
        caller = await api.user(request)
        key: int | str = int(step_index) if step_index.isdigit() else step_index
        view = await api.call("get_step_view", session_id, run_id, key, caller)
        return json_response(view.to_json())

    @app.get("/api/sessions/{session_id}/diff", summary="Two runs compared step by step")
    async def diff(
        request: Request,
        session_id: str,
        a: Annotated[str, Query(description="the first run's id")],
        b: Annotated[str, Query(description="the second run's id")],
        session_b: Annotated[
            str | None, Query(description="the session of run b, when not this one")
        ] = None,
    ) -> Response:
        caller = await api.user(request)
        found = await api.call("diff_runs", session_id, a, b, caller, session_b=session_b)
        return json_response(found.to_json())

    @app.get("/api/sessions/{session_id}/verify", summary="Check the session's hash chain")
    async def verify(request: Request, session_id: str) -> Response:
        caller = await api.user(request)
        report = await api.call("verify", session_id, user_id=caller)
        return json_response(report.to_json())

    @app.get(
        "/api/sessions/{session_id}/export",
        summary="The session's stored events as JSON lines (kern import reads them), "
        "or its runs as OpenTelemetry spans (format=otel)",
        response_class=StreamingResponse,
    )
    async def export(
        request: Request,
        session_id: str,
        format: Annotated[
            Literal["jsonl", "otel"],
            Query(description="jsonl: the stored events; otel: OTLP/JSON spans"),
        ] = "jsonl",
        include_content: Annotated[
            bool, Query(description="otel only: inputs, outputs and error messages too")
        ] = False,
    ) -> Response:
        caller = await api.user(request)
        if format == "otel":
            spans = await api.call(
                "export_otel", session_id, user_id=caller, include_content=include_content
            )
            return json_response(spans)
        if include_content:
            raise InvalidInputError("include_content applies to format=otel only")
        lines = await api.export_lines(session_id, caller)
        return StreamingResponse(
            lines,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{session_id}.jsonl"'},
        )

    @app.get(
        "/api/sessions/{session_id}/stream",
        summary="New events as server-sent events (id: version; resumes at Last-Event-ID)",
        response_class=StreamingResponse,
    )
    async def stream(
        request: Request,
        session_id: str,
        after: Annotated[
            int | None,
            Query(ge=0, lt=2**63, description="send events after this version (default: now)"),
        ] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        caller = await api.user(request)
        head = await api.require_head(session_id, caller)
        last = await api.call("get_log", session_id, caller, after=head - 1, limit=1)
        ended = bool(last) and isinstance(last[0].event, SessionDeleted)
        start = head if after is None else after
        if last_event_id is not None:
            if not last_event_id.isdigit():
                raise InvalidInputError(f"Last-Event-ID must be a version, got {last_event_id!r}")
            start = int(last_event_id)
        return StreamingResponse(
            _follow(api, request, session_id, caller, start, ended=ended),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _follow(
    api: _Api,
    request: Request,
    session_id: str,
    user_id: str | None,
    after: int,
    *,
    ended: bool,
) -> AsyncIterator[bytes]:
    """The session's events after ``after``, as they are recorded, until the client
    goes away or the session is deleted (its tombstone is the last event sent;
    the stream of a session deleted before it opened ends after what it missed)."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    yield b": kern event stream\n\n"
    while not await request.is_disconnected():
        entries: list[LogEntry] = await api.call(
            "get_log", session_id, user_id, after=after, limit=DEFAULT_EVENTS
        )
        for entry in entries:
            yield _sse(entry)
            after = entry.version
            if isinstance(entry.event, SessionDeleted):
                return
        if ended and len(entries) < DEFAULT_EVENTS:
            return  # deleted before the stream opened, and all it missed is sent
        if entries:
            quiet_since = loop.time()
            continue
        if loop.time() - quiet_since >= KEEPALIVE:
            yield b": keepalive\n\n"
            quiet_since = loop.time()
        await asyncio.sleep(api.poll_interval)
