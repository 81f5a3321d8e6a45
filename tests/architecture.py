"""Reads the imports of the source tree (with :mod:`ast`, never by importing it) for the architecture tests.

Every ``import`` counts, also inside functions and ``if TYPE_CHECKING:`` blocks: an import moved into a
function to dodge a cycle is still an arrow between two modules.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

ROOT_PACKAGE = "gereedschapskist"
#: The ground floor: every component may import these, and they import no component.
GROUND_FLOOR = frozenset({"core", "catalogue"})
COMPONENTS = frozenset({"hub", "portal", "images", "infra", "dev"})
#: The one arrow between components: infra deploys the hub, so it renders the hub's Helm values.
ALLOWED_CROSSINGS = frozenset({("infra", "gereedschapskist.hub.values")})


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. gereedschapskist.hub.config
    target: str  # imported module, e.g. gereedschapskist.core.groups
    file: Path
    line: int


def modules(package_dir: Path, package: str = ROOT_PACKAGE) -> dict[str, Path]:
    """``{module name: file}`` for every ``.py`` file under ``package_dir``, following folder links."""
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(package_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in ("node_modules", "__pycache__"))
        rel = Path(folder).relative_to(package_dir)
        for name in files:
            if not name.endswith(".py"):
                continue
            parts = [package, *rel.parts] + ([] if name == "__init__.py" else [name[:-3]])
            found[".".join(parts)] = Path(folder) / name
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(known: dict[str, Path]) -> Iterator[Import]:
    """Every import of a project module by a project module, resolved to the module it loads."""
    for module, file in known.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        is_package = file.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                # `from pkg import sub` loads the module pkg.sub when that is a module, else a name of pkg
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            for target in targets:
                if target == ROOT_PACKAGE or target.startswith(ROOT_PACKAGE + "."):
                    yield Import(module, _known_prefix(target, known), file, node.lineno)


def _known_prefix(target: str, known: dict[str, Path]) -> str:
    parts = target.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) or target


def floor_of(module: str) -> str:
    """``gereedschapskist.hub.config`` → ``hub``; the root package's own modules → ``root``."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in GROUND_FLOOR | COMPONENTS:
        return "root"
    return parts[1]


def forbidden(found: Iterable[Import]) -> list[str]:
    """Imports that break the rule: the ground floor imports no component; a component imports only the
    ground floor and itself (plus :data:`ALLOWED_CROSSINGS`); the root package imports no component."""
    problems = []
    for imp in found:
        source, target = floor_of(imp.source), floor_of(imp.target)
        if source == target or target in GROUND_FLOOR or target == "root" and imp.target == ROOT_PACKAGE:
            continue
        if (source, imp.target) in ALLOWED_CROSSINGS:
            continue
        line = f"{imp.file}:{imp.line}: {imp.source} ({source}) imports {imp.target} ({target})"
        if line not in problems:
            problems.append(line)
    return problems


def cycles(found: Iterable[Import]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.source != imp.target:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def component_graph(found: Iterable[Import]) -> dict[str, set[str]]:
    """Which floor imports which (for the docs and the closing note)."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        source, target = floor_of(imp.source), floor_of(imp.target)
        if source != target:
            graph.setdefault(source, set()).add(target)
    return graph
