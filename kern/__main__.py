"""``python -m kern``: the same commands as the ``kern`` console script."""

from __future__ import annotations

from kern.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
