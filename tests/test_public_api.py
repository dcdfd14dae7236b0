"""Kern's public surface stays complete, sorted and importable the documented way.

Users import from the thin ``kern`` facade only; the layers behind it are
reached as ``kern.domain``, ``kern.projections`` and ``kern.adapters``, never
as top-level packages (that would load a second copy of every class and store
wrong event topics).
"""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import kern
import kern.errors
from kern.domain.errors import KernError

ROOT = Path(__file__).resolve().parent.parent
KERN_DIR = Path(kern.__file__).resolve().parent

PUBLIC_MODULES = [
    "kern",
    "kern.anchors",
    "kern.cli",
    "kern.crypto",
    "kern.db",
    "kern.db.in_memory",
    "kern.db.postgres",
    "kern.db.sqlite",
    "kern.errors",
    "kern.importing",
    "kern.run",
    "kern.session",
    "kern.web",
    "kern.workflow",
]

LAYERS = ["domain", "projections", "adapters"]
TOP_LEVEL_IMPORT = re.compile(r"^\s*(from|import)\s+(domain|projections|adapters)\b", re.MULTILINE)


def all_kern_modules() -> list[str]:
    """Every module shipped under ``kern`` (the layers are folders without __init__)."""
    paths = [
        Path(directory, file)
        for directory, _, files in os.walk(KERN_DIR, followlinks=True)
        for file in files
        if file.endswith(".py")
    ]
    names = []
    for path in sorted(paths):
        parts = path.relative_to(KERN_DIR).with_suffix("").parts
        if parts[-1] == "__main__":
            continue  # importing it runs the console script
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("kern", *parts)))
    return names


def kern_error_classes() -> set[type[KernError]]:
    """Every KernError subclass defined in Kern's own modules, at any depth."""
    for name in all_kern_modules():
        importlib.import_module(name)
    found: set[type[KernError]] = set()
    pending: list[type[KernError]] = [KernError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("kern.") and cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return found


def public(name: str) -> ModuleType:
    """Import a public module by name."""
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_module_has_a_sorted_all(name: str) -> None:
    """``__all__`` is a sorted list without duplicates, so diffs stay readable."""
    exported = public(name).__all__
    assert list(exported) == sorted(set(exported))


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_name_in_all_exists(name: str) -> None:
    """``from module import *`` never fails on a stale name."""
    module = public(name)
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert missing == []


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_module_has_a_docstring(name: str) -> None:
    """Every public module says what it is for."""
    assert (public(name).__doc__ or "").strip()


def test_every_shipped_module_imports() -> None:
    """Each file under kern/ (layers included) imports as part of the package."""
    for name in all_kern_modules():
        assert importlib.import_module(name).__name__ == name


def test_errors_module_exports_every_kern_error() -> None:
    """A new KernError subclass anywhere in Kern must be added to kern.errors."""
    for cls in kern_error_classes():
        assert cls.__name__ in kern.errors.__all__, cls
        assert getattr(kern.errors, cls.__name__) is cls


def test_errors_module_exports_only_kern_errors() -> None:
    """kern.errors is the error surface and nothing else."""
    for name in kern.errors.__all__:
        assert issubclass(getattr(kern.errors, name), KernError), name


def test_spec_public_imports_work() -> None:
    """The imports the workflow-sessions page lists."""
    from kern.db.in_memory import InMemoryDb
    from kern.db.postgres import PostgresDb
    from kern.db.sqlite import SqliteDb
    from kern.run import RunStatus, WorkflowRunOutput
    from kern.session import WorkflowSession
    from kern.workflow import Step, StepInput, StepOutput, Workflow

    assert [cls.__name__ for cls in (Workflow, Step, StepInput, StepOutput)] == [
        "Workflow",
        "Step",
        "StepInput",
        "StepOutput",
    ]
    assert SqliteDb.__name__ == "SqliteDb"
    assert PostgresDb.__name__ == "PostgresDb"
    assert InMemoryDb.__name__ == "InMemoryDb"
    assert WorkflowSession.__name__ == "WorkflowSession"
    assert WorkflowRunOutput.__name__ == "WorkflowRunOutput"
    completed: str = RunStatus.completed  # a str, as Agno's run status is
    assert completed == "COMPLETED"


def test_stores_share_one_api() -> None:
    """Every store is a KernDb, so a test written against one runs on all of them."""
    from kern.db import KernDb
    from kern.db.in_memory import InMemoryDb
    from kern.db.postgres import PostgresDb
    from kern.db.sqlite import SqliteDb

    assert issubclass(InMemoryDb, KernDb)
    assert issubclass(SqliteDb, KernDb)
    assert issubclass(PostgresDb, KernDb)


def test_ruff_bans_top_level_layer_imports() -> None:
    """pyproject.toml keeps ruff's TID251 ban on ``domain``/``projections``/``adapters``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    assert "TID" in lint["select"]
    banned = lint["flake8-tidy-imports"]["banned-api"]
    assert set(LAYERS) <= set(banned)


def test_kern_sources_never_import_top_level_layers() -> None:
    """No module of Kern imports ``domain``, ``projections`` or ``adapters`` directly."""
    offenders = []
    for folder in [*LAYERS, "kern"]:
        # os.walk does not follow kern/'s symlinks; the real folders are walked instead.
        for directory, _, files in os.walk(ROOT / folder):
            for file in files:
                if not file.endswith(".py"):
                    continue
                path = Path(directory) / file
                for match in TOP_LEVEL_IMPORT.finditer(path.read_text(encoding="utf-8")):
                    offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []
