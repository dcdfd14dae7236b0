"""The layers contract of docs/development.md, checked on every run of the fast tier.

The contracts themselves are in pyproject.toml (``[tool.importlinter]``); CI
also runs ``lint-imports``. These tests make a broken layer fail ``pytest``
too, and prove the contracts can fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_every_layers_contract_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """domain imports no other layer and no I/O, projections only domain, the use
    cases no driver, SQL, argparse or store, and only kern.db builds stores."""
    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True, no_logo=True) == 0


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("domain/values.py", "import sqlite3"),
        ("projections/windows.py", "from kern.application import ports"),
        ("application/replay.py", "import psycopg"),
        ("adapters/cli/targets.py", "from kern.adapters.stores.sqlite import SqliteStore"),
    ],
    ids=["domain-io", "projections-up", "application-driver", "cli-builds-store"],
)
def test_a_forbidden_import_breaks_the_contract(
    module: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same contracts over a copy of the tree with one forbidden import added fail."""
    copy = tmp_path / "tree"
    for folder in ("domain", "projections", "application", "adapters"):
        shutil.copytree(ROOT / folder, copy / folder)
    shutil.copytree(ROOT / "kern", copy / "kern", symlinks=True)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    with (copy / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # noqa\n")
    monkeypatch.chdir(copy)
    monkeypatch.syspath_prepend(str(copy))
    for name in [m for m in __import__("sys").modules if m == "kern" or m.startswith("kern.")]:
        monkeypatch.delitem(__import__("sys").modules, name)
    assert lint_imports(no_cache=True, no_logo=True) == 1
