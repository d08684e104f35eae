"""The package's import graph, read from the source (no module is imported): which
`pipeline` modules each module imports, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def all_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imports_of(name: str) -> set[str]:
    """The pipeline modules `name` imports (a package's import includes its __init__)."""
    found: set[str] = set()
    tree = ast.parse(module_file(name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pipeline")}
    with_parents = set()
    for module in found:
        parts = module.split(".")
        with_parents |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {m for m in with_parents if module_file(m) and m != name}


def closure(start: str, stop: set[str] = frozenset()) -> set[str]:
    """Every pipeline module that running `start` can import (not looking inside the
    modules in `stop`)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            if module not in stop:
                todo.extend(imports_of(module))
    return seen


def files_of(modules: set[str]) -> set[str]:
    return {str(module_file(m).relative_to(REPO)) for m in modules}
