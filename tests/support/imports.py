"""What a folder of Python modules imports, and which distributions provide it.

Shared by the tests that keep the runtime package (layers/facematch) and the CLI (cli/) to what
their images and their installs provide.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path


def imports_of(source: str) -> set[str]:
    """The top-level names of every absolute import in the source, function bodies included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - {"__future__"}


def imports_in(folder: Path) -> dict[str, set[Path]]:
    """Each top-level name imported by the modules under folder, and the modules importing it."""
    found: dict[str, set[Path]] = {}
    for path in sorted(folder.rglob("*.py")):
        for name in imports_of(path.read_text()):
            found.setdefault(name, set()).add(path)
    return found


def normalized(distribution: str) -> str:
    """A distribution's name as PEP 503 compares names."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def requirement_names(requirements: Path) -> set[str]:
    """The distributions a requirements file lists (following ``-r`` includes), normalized."""
    names: set[str] = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= requirement_names(requirements.parent / line[2:].strip())
        elif line and not line.startswith("-"):
            names.add(normalized(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0]))
    return names


@functools.cache
def _providers() -> dict[str, frozenset[str]]:
    return {name: frozenset(map(normalized, dists)) for name, dists in packages_distributions().items()}


def providers(module: str) -> frozenset[str]:
    """The installed distributions that provide the top-level module, normalized."""
    return _providers().get(module, frozenset())


def unprovided(imported: set[str], own: set[str], distributions: set[str]) -> set[str]:
    """The imported names that are neither the standard library's, nor the package's own, nor
    provided by one of the (normalized) distributions."""
    return {
        name
        for name in imported
        if name not in sys.stdlib_module_names and name not in own and not providers(name) & distributions
    }
