"""``kern`` audit and admin commands: ``verify``, ``export``, ``import``, ``anchor``,
``keygen`` and ``migrate``.

``export --format otel`` writes the runs as OpenTelemetry spans instead of the log.

They read every session, deleted ones included, straight from the stored
records. Going through many sessions draws a progress bar on stderr, so
stdout holds only the report or the exported lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from kern.adapters.anchor_files import (
    generate_keys,
    load_private_key,
    load_public_key,
    read_anchors,
    write_anchors,
)
from kern.adapters.cli.output import Output, add_row, table
from kern.adapters.cli.targets import UsageError, describe
from kern.adapters.keyring import LocalKeyring
from kern.application.sessions import KernDb
from kern.domain.encoding import encode_json

STDIO = "-"


def verify(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern verify [ID]``: check hash chains; exit status 1 when any session fails."""
    anchors, public_key = _anchor_options(args)
    with out.progress("Verifying sessions") as progress:
        report = db.verify(
            args.session_id,
            progress=progress,
            anchors=anchors,
            public_key=public_key,
            user_id=args.user,
        )
    if out.as_json:
        out.json(report)
        return 0 if report.ok else 1
    grid = table("session_id", "events", "result")
    for checked in report.sessions:
        result = "ok" if checked.ok else f"FAILED at version {checked.first_bad_version}"
        if not checked.ok and checked.problem:
            result += f": {checked.problem}"
        elif checked.purged:
            result += f", {checked.purged}"
        add_row(grid, checked.session_id, str(checked.events), result)
    failed = sum(1 for checked in report.sessions if not checked.ok)
    total = len(report.sessions)
    intact = "every hash chain is intact" + (
        " and reaches its anchored head" if anchors is not None else ""
    )
    verdict = (
        f"{total} session(s) verified: {intact}"
        if report.ok
        else f"{failed} of {total} session(s) FAILED verification"
    )
    out.print(grid, verdict)
    return 0 if report.ok else 1


def _anchor_options(args: argparse.Namespace) -> tuple[dict[str, Any] | None, Any]:
    """The anchor document and public key ``--anchors`` and ``--public-key`` name."""
    anchors_path, key_path = args.anchors, args.public_key
    if (anchors_path is None) != (key_path is None):
        raise UsageError("--anchors and --public-key go together")
    if anchors_path is None:
        return None, None
    return read_anchors(anchors_path), load_public_key(key_path)


def anchor(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern anchor -o FILE --key PRIVATE_PEM``: sign every session's head into FILE."""
    signed = db.anchor(load_private_key(args.key))
    write_anchors(args.output, signed)
    count = len(signed.anchors.heads)
    if out.as_json:
        out.json({"file": args.output, "sessions": count, "at": signed.anchors.anchored_at})
    else:
        out.print(f"Anchored the heads of {count} session(s) in {args.output}")
    return 0


def keygen(args: argparse.Namespace) -> int:
    """``kern keygen PRIVATE_PEM PUBLIC_PEM``: a new Ed25519 key pair for anchors."""
    generate_keys(args.private, args.public)
    print(
        f"Wrote the private key to {args.private} (mode 0600: keep it off the database "
        f"host) and the public key to {args.public}"
    )
    return 0


def export(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern export [ID] [--format jsonl|otel] [--include-content] [--keys] [-o FILE]``:
    JSON lines, one per event, with their hashes (with ``--keys``, each encrypted
    session's wrapped data keys first); or, with ``--format otel``, the runs as one
    OTLP/JSON document of OpenTelemetry spans."""
    if args.format == "otel":
        if args.keys:
            raise UsageError("--keys goes with the jsonl format")
        return _export_otel(db, args, out)
    if args.include_content:
        raise UsageError("--include-content goes with --format otel")
    target = args.output
    to_stdout = target in (None, STDIO)
    # Lines on a terminal would tangle with a bar drawn on the same terminal.
    with out.progress("Exporting sessions", enabled=not (to_stdout and _is_tty())) as progress:
        lines = db.export(args.session_id, progress=progress, user_id=args.user, keys=args.keys)
        if to_stdout:
            for line in lines:
                sys.stdout.write(line.rstrip("\n") + "\n")
            return 0
        sessions, count = _write_atomically(Path(target), lines)
    summary = {"file": target, "sessions": sessions, "events": count}
    if out.as_json:
        out.json(summary)
    else:
        out.print(f"Exported {count} event(s) of {sessions} session(s) to {target}")
    return 0


def _export_otel(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    document = db.export_otel(
        args.session_id, user_id=args.user, include_content=args.include_content
    )
    text = encode_json(document).decode("utf-8") + "\n"
    target = args.output
    if target in (None, STDIO):
        sys.stdout.write(text)
        return 0
    with _atomic_file(Path(target)) as stream:
        stream.write(text)
    spans = [
        span
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    runs = sum(1 for span in spans if "parentSpanId" not in span)
    if out.as_json:
        out.json({"file": target, "runs": runs, "spans": len(spans)})
    else:
        out.print(f"Exported {len(spans)} span(s) of {runs} run(s) to {target}")
    return 0


def _write_atomically(path: Path, lines: Iterator[str]) -> tuple[int, int]:
    """Write ``lines`` to ``path`` through a temporary file, so a failed export
    leaves no half-written file; returns (sessions, events) written."""
    seen: set[str] = set()
    count = 0
    with _atomic_file(path) as stream:
        for line in lines:
            stream.write(line.rstrip("\n") + "\n")
            data = json.loads(line)
            seen.add(str(data["session_id"]))
            count += "version" in data  # a data_keys line is not an event
    return len(seen), count


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[IO[str]]:
    """A text stream that becomes ``path`` when the block ends without an error;
    on an error, no file is left behind."""
    if path.is_dir():
        raise UsageError(f"-o {str(path)!r} is a directory")
    handle, temporary = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def import_(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern import FILE [--skip-existing] [--source-master-key-file F]``: add the
    exported sessions, all or nothing; refuses a broken chain, a log Kern could not
    have written or an existing session (with --skip-existing, an identical one is
    skipped). Encrypted sessions need the keys ``export --keys`` wrote; when they
    are wrapped by another master key than this store's, name its file."""
    source = (
        LocalKeyring.from_file(args.source_master_key_file)
        if args.source_master_key_file is not None
        else None
    )
    with _open_input(args.file) as stream, out.progress("Importing sessions") as progress:
        report = db.import_lines(
            stream, progress=progress, skip_existing=args.skip_existing, keyring=source
        )
    if out.as_json:
        out.json(report)
        return 0
    grid = table("session_id", "result")
    for session_id in report.sessions:
        add_row(grid, session_id, "imported")
    for session_id in report.skipped:
        add_row(grid, session_id, "skipped: already stored, identical")
    skipped = f", skipped {len(report.skipped)} identical one(s)" if report.skipped else ""
    out.print(
        grid,
        f"Imported {report.events} event(s) of {len(report.sessions)} session(s){skipped}; "
        "every hash chain verified",
    )
    return 0


@contextlib.contextmanager
def _open_input(name: str) -> Iterator[Iterable[str]]:
    if name == STDIO:
        yield sys.stdin
        return
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"no file to import at {name!r}")
    try:
        stream = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name!r}: {exc.strerror}") from None
    with stream:
        yield _decoded(stream, name)


def _decoded(stream: IO[str], name: str) -> Iterator[str]:
    """``stream``'s lines, a decoding failure turned into a one-line usage error."""
    try:
        yield from stream
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name!r} is not UTF-8 text: {exc.reason}") from None


def _is_tty() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


def migrate(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """``kern migrate``: the tables, brought to this Kern's schema version as they
    were opened; say so."""
    where = describe(args.db or os.environ.get("KERN_DB") or "")
    if out.as_json:
        out.json({"db": where, "up_to_date": True})
    else:
        out.print(f"Kern's tables at {where} are at this Kern's schema version")
    return 0
