"""The layout docs/architecture.md promises: no import cycles, modules a reader can hold in their head, and
no flag named in training's messages that `cgan train` does not have."""

from __future__ import annotations

import argparse
import ast
import itertools
import re
from pathlib import Path

from cgan.cli import build_parser

SOURCE = Path(__file__).resolve().parents[1] / "src" / "cgan"
MAX_MODULE_LINES = 420


def module_name(path: Path) -> tuple[str, list[str]]:
    """The dotted name of a module and the package its relative imports start from."""
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), parts
    return ".".join(parts), parts[:-1]


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """cgan modules imported by `path`, at the top level or inside functions alike."""
    name, package = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            candidates = [module] + [f"{module}.{alias.name}" for alias in node.names]
            found.update(c for c in candidates if c in known and c != name)
    return found


def test_no_import_cycles():
    paths = sorted(SOURCE.rglob("*.py"))
    known = {module_name(p)[0] for p in paths}
    graph = {module_name(p)[0]: imported_modules(p, known) for p in paths}

    def is_reexport(a: str, b: str) -> bool:  # a package importing its own submodule, or the reverse
        return a.startswith(b + ".") or b.startswith(a + ".")

    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for dependency in graph[module]:
            if dependency in path:
                cycle = path[path.index(dependency) :] + [dependency]
                if not all(is_reexport(a, b) for a, b in itertools.pairwise(cycle)):
                    cycles.append(" -> ".join(cycle))
            elif len(path) < 12:
                visit(dependency, path + [dependency])

    for module in graph:
        visit(module, [module])
    assert not cycles, cycles[:3]


def test_modules_stay_small():
    sizes = {str(p.relative_to(SOURCE)): len(p.read_text().splitlines()) for p in SOURCE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_training_messages_name_real_flags():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    train_flags = {s for action in commands.choices["train"]._actions for s in action.option_strings}
    named = set()
    for path in (SOURCE / "training").glob("*.py"):
        named.update(re.findall(r"--[a-z][a-z0-9-]+", path.read_text()))
    assert named - train_flags == set()
