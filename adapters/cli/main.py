"""The ``kern`` command line (also ``python -m kern``).

``kern demo`` records a small workflow into a SQLite file (or the PostgreSQL
database a ``postgresql://`` ``--db`` names) and shows what Kern stored. Every
other command works on the database ``--db`` names (a SQLite file that must
exist, or a ``postgresql://`` URL; ``KERN_DB`` in the environment is the
default). Commands that only read never create or change tables: where there
is no Kern store they say so (exit status 2) and leave the place as it was::

    kern --db FILE_OR_URL sessions [list]          live sessions
    kern --db ... sessions --deleted               deleted sessions, latest first
    kern --db ... show ID [--as-of AS_OF]          a session now, or as it stood then
    kern --db ... as-of ID AS_OF                   the same as show --as-of
    kern --db ... events ID [--as-of AS_OF]        its event log (JSON lines with --json)
    kern --db ... history ID                       the history context a next run sees
    kern --db ... step ID RUN_ID STEP              what one step received and returned
    kern --db ... rename ID NAME                   give a session a new name
    kern --db ... delete ID                        append a session's tombstone
    kern --db ... verify [ID]                      check hash chains (exit 1 on failure)
          [--anchors FILE --public-key PEM]        ... and that each log reaches its anchored head
    kern --db ... anchor -o FILE --key PEM         sign every session's head into FILE
    kern keygen PRIVATE_PEM PUBLIC_PEM             a new Ed25519 key pair for anchors
    kern --db ... export [ID] [-o FILE] [--keys]   JSON lines, one per event
    kern --db ... export [ID] --format otel        the runs as OTLP/JSON spans
                  [--include-content]              (with inputs, outputs, errors)
    kern --db ... import FILE [--skip-existing]    add exported sessions (never overwrites)
    kern --db ... import-agno --from FILE_OR_URL   Agno's workflow sessions, each as a Kern log
          [--from-table T] [--from-schema S]       (Agno's sessions table; its PostgreSQL schema)
    kern --db ... migrate                          bring the tables to this Kern's schema version
    kern --db ... erase --user U | --session ID | --older-than 90d --reason TEXT
                                                   destroy their data keys (a keyring store)
    kern --db ... erase --session ID --purge --reason TEXT [--requested-by NAME]
                                                   delete a session's log, recorded in the ledger
    kern --db ... erasures                         the erasure ledger, oldest first
    kern --db ... runs [--interrupted]             runs still RUNNING (--interrupted: no event
          [--older-than 10m]                       for 10 minutes, or AGE: left by a dead process)
    kern --db ... abandon RUN_ID --reason TEXT     end an interrupted run as CANCELLED
          [--session ID]
    kern --db ... replay ID RUN_ID --workflow M:A  re-run a run on current code, compare
    kern --db ... fork ID --at AS_OF [--new-id X]  a new session with history to that point
    kern --db ... serve --admin | --trust-user-header NAME [--host H] [--port P]
                                                   the HTTP API and the web timeline

AS_OF is a version (an integer), an ISO 8601 moment, or a run_id (the moment
that run started). Global options may come before or after the command.
``--user USER`` scopes a command to that user's sessions: another user's
session reads as missing. Output is a table, or JSON with ``--json``; a reader
that stops early (``kern sessions | head -1``) ends the command quietly.
Errors print one line on stderr (``kern: error: ...``): exit status 2 for a
bad command line or input (or no Kern store at ``--db``), 1 for anything else
(unknown session, unreachable database, failed verify).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import kern
from kern.adapters.cli import agno_import
from kern.adapters.cli.audit import anchor, export, import_, keygen, migrate, verify
from kern.adapters.cli.demo import DEFAULT_DB, DEFAULT_RUNS, demo
from kern.adapters.cli.forks import diff, fork, replay
from kern.adapters.cli.output import Output
from kern.adapters.cli.privacy import erase, erasures
from kern.adapters.cli.runs import abandon, list_runs
from kern.adapters.cli.serve import DEFAULT_HOST, DEFAULT_PORT, check_options, serve
from kern.adapters.cli.sessions import (
    delete,
    events,
    history,
    list_sessions,
    rename,
    show,
    step,
)
from kern.adapters.cli.targets import (
    DEFAULT_SCHEMA,
    DEFAULT_TABLE,
    UsageError,
    keyring_from,
    open_db,
    open_existing,
)
from kern.application.sessions import KernDb
from kern.domain.errors import (
    InvalidInputError,
    KernError,
    SchemaMigrationRequiredError,
    StoreNotFoundError,
)
from kern.projections.listing import SORT_COLUMNS

Command = Callable[[KernDb, argparse.Namespace, Output], int]

READ, WRITE, CREATE = "read", "write", "create"
"""How a command opens ``--db``. READ never creates or changes tables: a place
without a Kern store is "no Kern store here" (exit 2), left as it was. WRITE
needs a Kern store there too, and brings its tables up to date. CREATE may
make a new file and its tables."""

# command -> (handler, how it opens --db, takes --user)
COMMANDS: dict[str, tuple[Command, str, bool]] = {
    "sessions": (list_sessions, READ, True),
    "show": (show, READ, True),
    "as-of": (show, READ, True),
    "events": (events, READ, True),
    "history": (history, READ, True),
    "step": (step, READ, True),
    "verify": (verify, READ, True),
    "anchor": (anchor, READ, False),
    "export": (export, READ, True),
    "import": (import_, CREATE, False),
    "import-agno": (agno_import.import_agno, CREATE, False),
    "replay": (replay, READ, True),  # replays into a scratch store: --db is only read
    "fork": (fork, WRITE, True),
    "diff": (diff, READ, True),
    "rename": (rename, WRITE, True),
    "delete": (delete, WRITE, True),
    "migrate": (migrate, WRITE, False),
    "serve": (serve, READ, False),
    # --user names whose sessions to erase (erase is an admin operation).
    "erase": (erase, WRITE, True),
    "erasures": (erasures, READ, False),
    "runs": (list_runs, READ, True),
    "abandon": (abandon, WRITE, True),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kern`` command; returns the exit status. Without arguments it
    prints its help."""
    parser = _parser()
    if not (sys.argv[1:] if argv is None else list(argv)):
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # here, where a reader gone away is caught, not at exit
        return status
    except BrokenPipeError:
        return _broken_pipe()
    except UsageError as exc:
        return _fail(str(exc), 2)
    except KernError as exc:
        usage = isinstance(exc, InvalidInputError | StoreNotFoundError)
        return _fail(str(exc), 2 if usage else 1)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", 1)
    except KeyboardInterrupt:
        print("kern: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback: one line, whatever went wrong
        return _fail(f"unexpected {type(exc).__name__}: {exc}", 1)


def _run(args: argparse.Namespace) -> int:
    for name, default in (("json", False), ("no_progress", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    for name in ("db", "schema", "table", "user"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if args.command == "demo":
        return demo(
            args.db or DEFAULT_DB, args.runs, sys.stdout, schema=args.schema, table=args.table
        )
    if args.command == "keygen":
        return keygen(args)
    if args.command == "serve":
        check_options(args)  # before the database is opened
    handler, access, takes_user = COMMANDS[args.command]
    target = args.db or os.environ.get("KERN_DB")
    if not target:
        raise UsageError("--db is required: a SQLite file or a postgresql:// URL (or set KERN_DB)")
    if args.user is not None and not takes_user:
        raise UsageError(
            f"--user does not apply to {args.command}: it is an admin operation on every user's "
            "sessions"
        )
    out = Output(as_json=args.json, progress=not args.no_progress)
    try:
        with contextlib.ExitStack() as sources:
            if args.command == "import-agno":
                # Before --db: a source that cannot be read creates no Kern store.
                args.agno = sources.enter_context(agno_import.open_source(args))
            opened = _open(target, args, access)
            with opened as db:
                return handler(db, args, out)
    except SchemaMigrationRequiredError as exc:
        if access != READ:
            raise
        raise SchemaMigrationRequiredError(
            f"{exc} (kern's read commands never migrate: kern migrate does)"
        ) from None


def _open(target: str, args: argparse.Namespace, access: str) -> KernDb:
    keyring = keyring_from(getattr(args, "master_key_file", None))
    if access == WRITE:
        return open_existing(target, schema=args.schema, table=args.table, keyring=keyring)
    create = access == CREATE
    return open_db(
        target,
        schema=args.schema,
        table=args.table,
        create=create,
        migrate=create,
        keyring=keyring,
    )


def _fail(message: str, status: int) -> int:
    text = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"kern: error: {text}", file=sys.stderr)
    return status


def _broken_pipe() -> int:
    """The reader went away (``kern sessions | head -1``): it has what it wanted, so
    stop quietly with status 0. What is still buffered goes to /dev/null, or the
    interpreter would report the broken pipe again as it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0


_Add = Callable[[str, str], argparse.ArgumentParser]
"""Adds a subcommand by name and help text, with the common options."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in Kern's one-line form (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kern: error: {message} (see: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kern",
        description="Kern: workflow sessions kept as append-only, hash-chained event logs.",
        epilog="AS_OF: a version (integer), an ISO 8601 moment, or a run_id "
        "(the moment that run started).",
        parents=[_common()],
    )
    parser.add_argument("--version", action="version", version=f"kern {kern.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, parents=[_common()])

    for add_group in (
        _demo_command,
        _reading_commands,
        _run_commands,
        _audit_commands,
        _fork_commands,
        _serve_command,
        _privacy_commands,
    ):
        add_group(add)
    return parser


def _demo_command(add: _Add) -> None:
    """``kern demo``."""
    demo_parser = add(
        "demo",
        "run a small workflow into a new session (a SQLite file, or PostgreSQL with a "
        "postgresql:// --db) and show what Kern stored",
    )
    demo_parser.add_argument(
        "--runs",
        type=_positive,
        default=DEFAULT_RUNS,
        metavar="N",
        help=f"how many runs to record (default: {DEFAULT_RUNS})",
    )


def _reading_commands(add: _Add) -> None:
    """Commands on sessions: sessions, show, as-of, events, history, step, rename, delete."""
    sessions = add("sessions", "list live sessions, newest first (or the deleted ones)")
    sessions.add_argument("action", nargs="?", choices=["list"], default="list")
    sessions.add_argument(
        "--deleted", action="store_true", help="deleted sessions, most recently deleted first"
    )
    sessions.add_argument("--workflow-id", help="only this workflow's sessions")
    sessions.add_argument("--name", help="name contains this text (any case)")
    sessions.add_argument("--limit", type=_positive, help="at most N sessions (default 20)")
    sessions.add_argument("--page", type=_positive, help="page N of --limit sessions")
    sessions.add_argument("--sort-by", choices=SORT_COLUMNS, help="default created_at")
    sessions.add_argument("--sort-order", choices=("asc", "desc"), help="default desc")
    show_parser = add("show", "a session: its runs and state, now or as of a point")
    show_parser.add_argument("session_id", metavar="ID")
    show_parser.add_argument("--as-of", metavar="AS_OF", help="the session as it stood then")
    as_of = add("as-of", "a session as it stood at a version, a moment or a run's start")
    as_of.add_argument("session_id", metavar="ID")
    as_of.add_argument("as_of", metavar="AS_OF")
    events_parser = add("events", "a session's event log (JSON lines with --json)")
    events_parser.add_argument("session_id", metavar="ID")
    events_parser.add_argument("--as-of", metavar="AS_OF", help="only the log up to that point")
    events_parser.add_argument(
        "--provenance",
        action="store_true",
        help="add user, correlation_id, kern version, workflow fingerprint, metadata and "
        "imported_from columns",
    )
    history_parser = add("history", "the workflow history context a next run would see")
    history_parser.add_argument("session_id", metavar="ID")
    history_parser.add_argument("--runs", type=int, metavar="N", help="last N runs (default all)")
    history_parser.add_argument("--as-of", metavar="AS_OF", help="the history as it stood then")
    step_parser = add("step", "what one step of a run received, started with and returned")
    step_parser.add_argument("session_id", metavar="ID")
    step_parser.add_argument("run_id", metavar="RUN_ID")
    step_parser.add_argument(
        "step",
        metavar="STEP",
        help="the step's index or name, or the dotted path of an inner step (2.1.3)",
    )
    rename_parser = add("rename", "give a session a new name (prints it)")
    rename_parser.add_argument("session_id", metavar="ID")
    rename_parser.add_argument("name", metavar="NAME")
    delete_parser = add("delete", "delete a session: append its tombstone (its log stays)")
    delete_parser.add_argument("session_id", metavar="ID")


def _run_commands(add: _Add) -> None:
    """runs and abandon."""
    runs_parser = add("runs", "runs still RUNNING, the longest still first (or the interrupted)")
    runs_parser.add_argument(
        "--interrupted",
        action="store_true",
        help="only runs with no event for --older-than: most likely left by a process that stopped",
    )
    runs_parser.add_argument(
        "--older-than",
        metavar="AGE",
        default=None,
        help="with --interrupted: the age of a run's last event (default 10m; 45s, 2h, 1d)",
    )
    abandon_parser = add(
        "abandon", "end a run that will not be resumed: CANCELLED, with the reason as its error"
    )
    abandon_parser.add_argument("run_id", metavar="RUN_ID")
    abandon_parser.add_argument("--reason", required=True, metavar="TEXT")
    abandon_parser.add_argument(
        "--session",
        dest="session_id",
        metavar="ID",
        default=None,
        help="the run's session (default: the one whose open run has this id)",
    )


def _audit_commands(add: _Add) -> None:
    """verify, export, import, anchor and keygen."""
    verify_parser = add("verify", "check the hash chain of one session or of every session")
    verify_parser.add_argument("session_id", metavar="ID", nargs="?")
    verify_parser.add_argument(
        "--anchors", metavar="FILE", default=None, help="signed heads written by kern anchor"
    )
    verify_parser.add_argument(
        "--public-key", metavar="PEM", default=None, help="the anchors' signer's public key"
    )
    anchor_parser = add("anchor", "sign every session's head (version, hash) into a file")
    anchor_parser.add_argument("-o", "--output", required=True, metavar="FILE")
    anchor_parser.add_argument(
        "--key", required=True, metavar="PEM", help="the Ed25519 private key (kern keygen)"
    )
    keygen_parser = add("keygen", "write a new Ed25519 key pair for signing anchors")
    keygen_parser.add_argument("private", metavar="PRIVATE_PEM", help="written with mode 0600")
    keygen_parser.add_argument("public", metavar="PUBLIC_PEM")
    export_parser = add(
        "export", "one session or every session as JSON lines, or its runs as OpenTelemetry spans"
    )
    export_parser.add_argument("session_id", metavar="ID", nargs="?")
    export_parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
    export_parser.add_argument(
        "--format",
        choices=("jsonl", "otel"),
        default="jsonl",
        help="jsonl: the event log (default); otel: the runs as OpenTelemetry spans (OTLP/JSON)",
    )
    export_parser.add_argument(
        "--include-content",
        action="store_true",
        help="with --format otel: add inputs, outputs, error messages and tracebacks",
    )
    export_parser.add_argument(
        "--keys",
        action="store_true",
        help="an encrypted store: write each session's data keys (wrapped by the master "
        "key) before its events, so another store can import them",
    )
    add("migrate", "bring a Kern store's tables to this Kern's schema version")
    import_parser = add("import", "add exported sessions; refuses broken chains and existing ids")
    import_parser.add_argument("file", metavar="FILE", help="a file of JSON lines, - for stdin")
    import_parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip a session already stored with the very same events (resume an import)",
    )
    import_parser.add_argument(
        "--source-master-key-file",
        metavar="FILE",
        default=None,
        help="the master key the file's data keys are wrapped by, when it is not this "
        "store's (they are rewrapped by this store's)",
    )
    agno_import.add_parser(
        add(
            "import-agno",
            "add Agno's workflow sessions, each as a Kern session log at Agno's times; "
            "sessions already imported are skipped",
        )
    )


def _privacy_commands(add: _Add) -> None:
    """erase and erasures."""
    erase_parser = add(
        "erase",
        "forget a user, a session or old sessions: their data keys destroyed (a keyring "
        "store), or with --purge a session's log deleted; each recorded in the ledger",
    )
    erase_parser.add_argument("--session", dest="session_id", metavar="ID", default=None)
    erase_parser.add_argument(
        "--older-than",
        metavar="AGE",
        default=None,
        help="retention: every session created more than AGE ago (90d, 12h, 2w)",
    )
    erase_parser.add_argument(
        "--workflow-id", metavar="ID", default=None, help="with --older-than: only this workflow's"
    )
    erase_parser.add_argument(
        "--purge",
        action="store_true",
        help="delete the session's events, listing row, snapshot and segments in one transaction",
    )
    erase_parser.add_argument(
        "--reason",
        required=True,
        metavar="TEXT",
        help="kept in the ledger: a ticket or legal basis, never personal data",
    )
    erase_parser.add_argument(
        "--requested-by",
        metavar="NAME",
        default=None,
        help="kept in the ledger: a role or team, never personal data (default: kern erase)",
    )
    add("erasures", "the erasure ledger: every erasure, when, why and at whose request")


def _fork_commands(add: _Add) -> None:
    """replay and fork."""
    replay_parser = add("replay", "re-run a recorded run through a workflow's current steps")
    replay_parser.add_argument("session_id", metavar="ID")
    replay_parser.add_argument("run_id", metavar="RUN_ID")
    replay_parser.add_argument(
        "--workflow",
        required=True,
        metavar="MODULE:ATTR",
        help="the Workflow (or a function returning it), e.g. myapp.flows:pipeline",
    )
    replay_parser.add_argument(
        "--check", action="store_true", help="exit status 1 when anything changed"
    )
    diff_parser = add("diff", "two runs step by step: what changed in inputs, outputs, state")
    diff_parser.add_argument("session_id", metavar="ID")
    diff_parser.add_argument("run_a", metavar="RUN_A")
    diff_parser.add_argument("run_b", metavar="RUN_B")
    diff_parser.add_argument(
        "--session-b", metavar="ID", help="RUN_B's session, when not ID's (a fork, say)"
    )
    diff_parser.add_argument(
        "--check", action="store_true", help="exit status 1 when the runs differ"
    )
    fork_parser = add("fork", "a new session holding a session's history up to a point")
    fork_parser.add_argument("session_id", metavar="ID")
    fork_parser.add_argument("--at", required=True, metavar="AS_OF", help="where to fork")
    fork_parser.add_argument("--new-id", metavar="ID", help="the fork's session_id (default: new)")


def _serve_command(add: _Add) -> None:
    """``kern serve``."""
    serve_parser = add("serve", "serve the HTTP API and the web timeline (needs kern[web])")
    serve_parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})"
    )
    serve_parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}"
    )
    serve_parser.add_argument(
        "--trust-user-header",
        metavar="NAME",
        help="take each request's user id from this header, set by an authenticating proxy",
    )
    serve_parser.add_argument(
        "--admin",
        action="store_true",
        help="serve every user's sessions unscoped (loopback addresses only)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, got {text!r}")
    return port


def _common() -> _Parser:
    """Options every command takes, before or after its name."""
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--db",
        metavar="FILE_OR_URL",
        help=f"SQLite file or postgresql:// URL (default: $KERN_DB; for demo: {DEFAULT_DB})",
    )
    common.add_argument("--schema", help=f"PostgreSQL schema (default: {DEFAULT_SCHEMA})")
    common.add_argument("--table", help=f"session_table the stores use (default: {DEFAULT_TABLE})")
    common.add_argument("--user", metavar="USER", help="act as this user_id (default: unscoped)")
    common.add_argument(
        "--master-key-file",
        metavar="FILE",
        help="the keyring's master key (base64 of 32 bytes) for an encrypted store "
        "(default: $KERN_MASTER_KEY)",
    )
    common.add_argument("--json", action="store_true", help="JSON output for machines")
    common.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return common


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value
