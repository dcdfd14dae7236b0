"""``kern serve``: it refuses to start without knowing who is asking, and serves
the API (scoped by a trusted header, or unscoped on loopback) when it does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from kern.adapters.cli.main import main
from kern.adapters.cli.serve import is_loopback
from kern.db.sqlite import SqliteDb
from tests.conftest import POSTGRES_URL
from tests.web.conftest import seed
from tests.web.server import kern_serving

DEADLINE = 30.0


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A SQLite file with alice's and bob's sessions."""
    path = tmp_path / "kern.db"
    with SqliteDb(path) as db:
        seed(db)
    return path


REFUSED = [
    ([], "needs to know who is asking"),
    (["--admin", "--trust-user-header", "X-User"], "not both"),
    (["--admin", "--host", "0.0.0.0"], "only on a loopback address"),
    (["--admin", "--host", "192.168.1.5"], "not --host 192.168.1.5"),
    (["--trust-user-header", " "], "needs a header name"),
    (["--admin", "--user", "alice"], "--user does not apply to serve"),
]


@pytest.mark.parametrize(("options", "says"), REFUSED)
def test_serve_refuses_to_start_and_says_why(
    db_file: Path, capsys: pytest.CaptureFixture[str], options: list[str], says: str
) -> None:
    assert main(["serve", "--db", str(db_file), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kern: error: ") and says in err


def test_serve_checks_the_port(db_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--db", str(db_file), "--admin", "--port", "70000"])
    assert exit_.value.code == 2
    assert "a port is a number from 0 to 65535" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@contextmanager
def kern_serve(db_file: Path, *options: str) -> Iterator[str]:
    """``kern serve`` on ``db_file`` in a process of its own; its base URL once it answers."""
    with kern_serving(["serve", "--db", str(db_file), *options]) as base:
        yield base


@pytest.mark.slow
def test_serve_scoped_by_a_trusted_header(db_file: Path) -> None:
    with kern_serve(db_file, "--trust-user-header", "X-Forwarded-User") as base:
        mine = httpx.get(f"{base}/api/sessions", headers={"X-Forwarded-User": "bob"}).json()
        assert [s["session_id"] for s in mine["sessions"]] == ["bob-s"]
        theirs = httpx.get(f"{base}/api/sessions/alice-s", headers={"X-Forwarded-User": "bob"})
        assert theirs.status_code == 404
        nobody = httpx.get(f"{base}/api/sessions")
        assert nobody.status_code == 401
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.slow
def test_serve_admin_on_loopback(db_file: Path) -> None:
    with kern_serve(db_file, "--admin") as base:
        listed = httpx.get(f"{base}/api/sessions").json()["sessions"]
        assert sorted(s["session_id"] for s in listed) == ["alice-s", "bob-s"]
        assert httpx.get(f"{base}/api/info").json()["scoped"] is False


def test_serve_finds_no_kern_store_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    before = other.read_bytes()
    assert main(["serve", "--db", str(other), "--admin"]) == 2
    assert "no Kern store here" in capsys.readouterr().err
    assert other.read_bytes() == before
    assert main(["serve", "--db", str(tmp_path / "missing.db"), "--admin"]) == 2
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.postgres
def test_serve_on_a_mistyped_schema_says_so_at_once(
    postgres_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = f"{postgres_schema}_typo"
    assert main(["serve", "--db", POSTGRES_URL, "--schema", typo, "--admin"]) == 2
    assert "no Kern store here" in capsys.readouterr().err
    with psycopg.connect(POSTGRES_URL) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [typo]
        ).fetchone()
    assert found is None
