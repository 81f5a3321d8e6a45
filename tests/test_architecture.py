"""The architecture, checked: who may import whom, no import cycles, each shared rule in one place.

The rule (docs/architecture.md): the ground floor (``gereedschapskist.core``, ``gereedschapskist.catalogue``)
imports no component; a component (hub, portal, images, infra, dev) imports the ground floor and itself,
never another component's internals — the one exception is infra → ``gereedschapskist.hub.values``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from . import architecture as arch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gereedschapskist"
KNOWN = arch.modules(PACKAGE)
FOUND = list(arch.imports(KNOWN))


def test_the_reader_sees_every_component():
    floors = {arch.floor_of(m) for m in KNOWN}
    assert floors == {"root", "core", "catalogue", "hub", "portal", "images", "infra", "dev"}
    assert len(FOUND) > 100  # the reader really found the imports


def test_components_import_only_the_ground_floor_and_themselves():
    problems = arch.forbidden(FOUND)
    assert not problems, "imports across components (use gereedschapskist.core instead):\n" + "\n".join(problems)


def test_there_are_no_import_cycles():
    found = arch.cycles(FOUND)
    assert not found, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_the_component_graph_is_the_documented_one():
    graph = arch.component_graph(FOUND)
    for component in arch.COMPONENTS:
        assert graph.get(component, set()) <= {"core", "catalogue", "root"} | ({"hub"} if component == "infra" else set())
    assert graph.get("core", set()) <= {"catalogue"}
    assert graph.get("catalogue", set()) <= {"core", "root"}


# --------------------------------------------------------------------------- the checker itself can fail


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = tmp_path / "gereedschapskist" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return arch.modules(tmp_path / "gereedschapskist")


def test_a_component_importing_another_component_inside_a_function_is_caught(tmp_path):
    known = _tree(tmp_path, {
        "__init__.py": "", "core/__init__.py": "", "core/groups.py": "",
        "portal/__init__.py": "", "hub/__init__.py": "", "hub/secrets.py": "",
        "portal/app.py": "from gereedschapskist.core import groups\n\ndef f():\n    from ..hub import secrets\n",
    })
    problems = arch.forbidden(arch.imports(known))
    assert len(problems) == 1 and "gereedschapskist.portal.app (portal) imports gereedschapskist.hub.secrets" \
        in problems[0]


def test_the_ground_floor_importing_a_component_is_caught_but_infra_may_render_hub_values(tmp_path):
    known = _tree(tmp_path, {
        "__init__.py": "", "core/__init__.py": "from gereedschapskist.portal import x\n",
        "portal/__init__.py": "", "portal/x.py": "", "hub/__init__.py": "", "hub/values.py": "",
        "hub/config.py": "", "infra/__init__.py": "",
        "infra/workbench.py": "from gereedschapskist.hub.values import render\nfrom gereedschapskist.hub import config\n",
    })
    problems = arch.forbidden(arch.imports(known))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "gereedschapskist.core (core) imports gereedschapskist.portal.x (portal)",
        "gereedschapskist.infra.workbench (infra) imports gereedschapskist.hub.config (hub)",
    ]


def test_a_cycle_held_apart_by_a_function_level_import_is_caught(tmp_path):
    known = _tree(tmp_path, {
        "__init__.py": "", "infra/__init__.py": "",
        "infra/plan.py": "from .partners import azure\n",
        "infra/partners/__init__.py": "", "infra/partners/azure.py": "def f():\n    from ..plan import x\n",
    })
    assert arch.cycles(arch.imports(known)) == [["gereedschapskist.infra.partners.azure", "gereedschapskist.infra.plan"]]


# --------------------------------------------------------------------------- each shared rule in one place

SOURCES = {m: f for m, f in KNOWN.items() if arch.floor_of(m) != "root" or m == "gereedschapskist.cli"}


def _string_constants(file: Path) -> list[tuple[int, str]]:
    """String literals of a module, docstrings and descriptions left out (they may mention a name)."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    described = {id(kw.value) for n in ast.walk(tree) if isinstance(n, ast.Call) for kw in n.keywords
                 if kw.arg in ("description", "help")}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings | described:
            found.append((node.lineno, node.value))
    return found


@pytest.mark.parametrize(("literal", "home"), [
    ("org:", "gereedschapskist.core.groups"),
    ("role:", "gereedschapskist.core.groups"),
    ("org-admin:", "gereedschapskist.core.groups"),
    ("data-owner:", "gereedschapskist.core.groups"),
    ("gereedschapskist:admins", "gereedschapskist.core.groups"),
    ("gereedschapskist.nl", "gereedschapskist.core.placement"),
    ("nvidia.com/gpu", "gereedschapskist.core.placement"),
    ("x-gereedschapskist-reason", "gereedschapskist.core.refusal"),
])
def test_a_shared_name_is_spelled_in_one_module_only(literal, home):
    """A literal that starts with the shared name (``"org:"``, ``f"org:{x}"``) appears only in its home."""
    where = []
    for module, file in SOURCES.items():
        for line, value in _string_constants(file):
            if value.lower().startswith(literal):
                where.append(f"{module}:{line}: {value!r}")
    assert where and all(w.startswith(home + ":") for w in where), where


def test_one_formatter_for_validation_errors():
    """``ValidationError.errors()`` is turned into text in one place: core.refusal.format_validation_errors."""
    readers = [m for m, f in SOURCES.items() if ".errors()" in f.read_text(encoding="utf-8")]
    assert readers == ["gereedschapskist.core.refusal"], readers


def test_paths_are_found_in_one_place():
    """No module works out the repository from its own location (``parents[…]``) but core.paths."""
    guessing = [m for m, f in SOURCES.items() if m != "gereedschapskist.core.paths"
                and "__file__).resolve().parents[" in f.read_text(encoding="utf-8")]
    assert not guessing, guessing


def test_the_settings_name_the_catalogue_folder_alike():
    texts = {m: f.read_text(encoding="utf-8") for m, f in SOURCES.items() if m.endswith(".settings")}
    assert texts and all("catalogue_root" not in t for t in texts.values())
    assert all("catalogue_dir" in texts[m] for m in ("gereedschapskist.hub.settings", "gereedschapskist.portal.settings"))
