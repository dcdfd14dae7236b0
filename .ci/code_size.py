"""Module and function sizes of Kern's library code (not tests): median, p90, max.

    python .ci/code_size.py [FOLDER ...]   (default: the layer folders and kern/)

Lines are physical lines of each module, and of each function or method from
its ``def`` to its last line (docstrings included). Symlinked folders are
counted once, where they really are.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

DEFAULT = ["domain", "projections", "application", "adapters", "kern"]


def quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(folders: list[str]) -> None:
    modules: dict[str, int] = {}
    functions: dict[str, int] = {}
    for folder in folders:
        root = Path(folder)
        if not root.is_dir() or root.is_symlink():
            continue
        for path in sorted(root.rglob("*.py")):
            if any(p.is_symlink() for p in path.parents if p != Path(".")):
                continue
            text = path.read_text(encoding="utf-8")
            modules[str(path)] = len(text.splitlines())
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    assert node.end_lineno is not None
                    functions[f"{path}:{node.name}"] = node.end_lineno - node.lineno + 1
    for what, sizes in (("modules", modules), ("functions", functions)):
        values = list(sizes.values())
        biggest = max(sizes, key=lambda k: sizes[k])
        print(
            f"{what}: {len(values)}, lines median {statistics.median(values):g}, "
            f"p90 {quantile(values, 0.9)}, max {max(values)} ({biggest})"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
