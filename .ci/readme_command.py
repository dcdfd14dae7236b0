"""Print the README's Nth shell command (1-based) that sets up the virtual environment.

README.md gives two commands, each starting with ``python3 -m venv``: set up
and run the demo, then set up and run every test. ``.ci/run`` compares the
second with the command it runs, so the README cannot drift from CI.

Usage: python3 .ci/readme_command.py README.md 2
"""

from __future__ import annotations

import sys
from pathlib import Path

PREFIX = "python3 -m venv "


def commands(text: str) -> list[str]:
    """Every line that starts a fresh setup, with prompts and indentation removed."""
    found = []
    for line in text.splitlines():
        stripped = line.strip().removeprefix("$ ").strip()
        if stripped.startswith(PREFIX):
            found.append(stripped)
    return found


def main(argv: list[str]) -> int:
    """Print the requested command; exit 1 when the README has fewer."""
    path, position = Path(argv[1]), int(argv[2])
    found = commands(path.read_text(encoding="utf-8"))
    if len(found) < position:
        print(f"{path}: {len(found)} command(s) start with {PREFIX!r}", file=sys.stderr)
        return 1
    print(found[position - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
