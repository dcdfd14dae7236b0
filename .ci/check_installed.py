"""Check an installed Kern from outside the source tree (run by .ci/check_wheel.sh).

Imports every public module and the layers behind them, checks the stored
event topic, that ``kern`` was imported from the given virtual environment, and
that the web timeline's files (package data, not modules) were installed.

Usage: <venv>/bin/python -I .ci/check_installed.py <venv>
"""

from __future__ import annotations

import importlib
import importlib.resources
import sys
from pathlib import Path

WEB_TIMELINE = ["index.html", "app.js", "app.css"]
"""Files of kern/adapters/web/static that ``kern serve`` sends to the browser."""

MODULES = [
    "kern.workflow",
    "kern.db.sqlite",
    "kern.db.in_memory",
    "kern.session",
    "kern.run",
    "kern.errors",
    "kern.domain.events",
    "kern.projections.session",
    "kern.adapters.stores.sqlite",
]


def main(venv: Path) -> int:
    """Exit 0 when the installed package is complete and comes from ``venv``."""
    for name in MODULES:
        module = importlib.import_module(name)
        location = Path(str(module.__file__)).resolve()
        if not location.is_relative_to(venv.resolve()):
            print(f"{name} imported from {location}, not from {venv}", file=sys.stderr)
            return 1
        print(f"imported {name}")

    import kern
    from kern.domain.events import RunStarted

    topic = RunStarted.topic()
    if topic != "kern.domain.events:RunStarted":
        print(f"RunStarted.topic() is {topic!r}", file=sys.stderr)
        return 1
    location = Path(kern.__file__).resolve()
    if not location.is_relative_to(venv.resolve()):
        print(f"kern imported from {location}, not from {venv}", file=sys.stderr)
        return 1
    print(f"kern {kern.__version__} from {location}; RunStarted topic {topic}")
    static = importlib.resources.files("kern.adapters.web").joinpath("static")
    missing = [name for name in WEB_TIMELINE if not static.joinpath(name).is_file()]
    if missing:
        print(f"the wheel lacks the web timeline's {missing} in {static}", file=sys.stderr)
        return 1
    print(f"web timeline files installed: {', '.join(WEB_TIMELINE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
