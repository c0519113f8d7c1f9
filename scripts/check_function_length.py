#!/usr/bin/env python3
"""Fail when a function or method is longer than MAX_LINES (house style: short enough to read
without scrolling). Migrations, tests and the virtualenv are exempt. Run from the project root:
`python scripts/check_function_length.py`; prints each offender and exits 1 if there is one."""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 60
ROOT = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".venv", "migrations", "tests", "node_modules", "var", "media", "static"}
# Known offenders, each with the reason it is not split yet. This list may only shrink (it is empty).
KNOWN_LONG: dict[str, str] = {}


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not SKIP_PARTS.intersection(path.relative_to(root).parts):
            yield path


def long_functions(path: Path, max_lines: int = MAX_LINES) -> Iterator[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function longer than `max_lines`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                length = child.end_lineno - first + 1
                if length > max_lines:
                    yield f"{prefix}{child.name}", first, length
                yield from visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")

    yield from visit(tree, "")


def main(root: Path = ROOT) -> int:
    offenders = [
        f"{path.relative_to(root)}:{line}: {name} is {length} lines (max {MAX_LINES})"
        for path in python_files(root)
        for name, line, length in long_functions(path)
        if f"{path.relative_to(root)}:{name}" not in KNOWN_LONG
    ]
    print("\n".join(offenders) or f"no function over {MAX_LINES} lines")
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main())
