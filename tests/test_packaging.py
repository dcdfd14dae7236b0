"""How the top-level layers ship inside the ``kern`` package.

``domain/``, ``projections/``, ``application/`` and ``adapters/`` sit at the top of the repo and
are reached through relative symlinks under ``kern/``, so one copy of each
file serves the source tree, editable installs and the wheel. CI also builds
the wheel and imports it from a clean virtual environment (.ci/check_wheel.sh).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from kern.domain.events import EVENT_CLASSES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("layer", ["domain", "projections", "application", "adapters"])
def test_layer_is_a_relative_symlink_to_the_top_level_folder(layer: str) -> None:
    """A relative link keeps working in any clone, wherever it is checked out."""
    link = ROOT / "kern" / layer
    assert link.is_symlink()
    assert os.readlink(link) == f"../{layer}"
    assert link.resolve() == (ROOT / layer).resolve()


def test_every_event_topic_names_the_kern_package() -> None:
    """Stored topics say ``kern.domain.events:Name``, never ``domain.events:Name``."""
    for cls in EVENT_CLASSES:
        assert cls.topic() == f"kern.domain.events:{cls.__name__}"


def test_console_script_points_at_the_cli() -> None:
    """``kern`` on the command line runs kern.cli.main."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["project"]["scripts"] == {"kern": "kern.cli:main"}

    from kern.cli import main

    assert callable(main)


def test_package_discovery_ships_every_layer() -> None:
    """setuptools finds kern and its subpackages, and the type marker ships too."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    assert setuptools["packages"]["find"]["include"] == ["kern", "kern.*"]
    assert "py.typed" in setuptools["package-data"]["kern"]


def test_the_web_timeline_ships_as_package_data() -> None:
    """Every file of the web timeline matches a package-data pattern, so the wheel has it
    (.ci/check_installed.py looks for them in the installed package too)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    patterns = setuptools["package-data"]["kern"]
    static = sorted((ROOT / "adapters" / "web" / "static").iterdir())
    assert {"index.html", "app.js", "app.css"} <= {path.name for path in static}
    for path in static:
        shipped = f"adapters/web/static/{path.name}"
        assert any(PurePosixPath(shipped).match(pattern) for pattern in patterns), shipped


@pytest.mark.parametrize("layer", ["domain", "projections", "application", "adapters"])
def test_every_layer_folder_is_a_package(layer: str) -> None:
    """Each layer folder and every folder below it that holds Python has an
    ``__init__.py``, so tools (import-linter, coverage, ruff's INP001) see packages,
    not loose files. A folder of other files (the web timeline's static/) is data."""
    folders = [ROOT / layer, *(p for p in (ROOT / layer).rglob("*") if p.is_dir())]
    missing = [
        str(folder.relative_to(ROOT))
        for folder in folders
        if folder.name != "__pycache__"
        and any(folder.rglob("*.py"))
        and not (folder / "__init__.py").is_file()
    ]
    assert missing == []
