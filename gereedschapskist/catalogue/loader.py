"""The one loader: reads ``catalogue-of-tools/`` in one pass into a :class:`Catalogue`.

Every reader of the catalogue (hub, portal, images, infra, CI) goes through
:func:`load_catalogue` (all problems, for checks) or :func:`load` (strict, for services).
Per-file schema validation and the cross-file rules of :mod:`.rules` run in the same pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterable

from gereedschapskist.core import paths

from . import rules
from .model import (
    Bundle, Catalogue, ContractTemplate, Ecosystem, ExplicitPrice, Image, Interface, Licence, Lifecycle, LocalText,
    MachineSize, Maintainer, Package, Partner, Region, Role, SecurityReview, Size, Status, SupplyModel,
)
from .problems import Problem, Severity, json_path
from .safeyaml import Document, UnsafeDocument, check_inside, read_document
from .schema import validate

DATA_DIRS = ("roles", "bundles", "partners")
EXTENSION = ".yaml"
#: Example notebooks per bundle: ``examples/<bundle id>/*.ipynb`` (data, beside the YAML folders).
EXAMPLES_DIR = "examples"
CHECKS_GROUP = "gereedschapskist.catalogue.checks"

#: Problems a running service tolerates: the bundle is withheld instead of the service refusing to start.
RUNTIME_TOLERATED = frozenset({"review.expired"})


class CatalogueInvalid(Exception):
    """The catalogue has errors; ``problems`` lists every one of them."""

    def __init__(self, root: Path, problems: list[Problem]):
        self.root = root
        self.problems = problems
        lines = "\n".join(p.format(root) for p in problems[:20])
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"the catalogue at {root} has {len(problems)} error(s):\n{lines}{more}")


@dataclass
class LoadResult:
    catalogue: Catalogue
    problems: list[Problem] = field(default_factory=list)
    files: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def default_root() -> Path:
    """The catalogue folder when none is configured: ``catalogue-of-tools/`` of the source checkout
    (:func:`gereedschapskist.core.paths.catalogue_dir`)."""
    return paths.catalogue_dir()


def load(root: Path | None = None, *, today: date | None = None) -> Catalogue:
    """Strict load for services: raise :class:`CatalogueInvalid` on any error they cannot tolerate."""
    root = Path(root) if root is not None else default_root()
    result = load_catalogue(root, today=today)
    fatal = [p for p in result.errors if p.code not in RUNTIME_TOLERATED]
    if fatal:
        raise CatalogueInvalid(root, fatal)
    return result.catalogue


def load_catalogue(root: Path, *, today: date | None = None, extra_checks: bool = False) -> LoadResult:
    """Read, validate and cross-check the whole catalogue; every problem is collected, none raised.

    ``extra_checks`` also runs the checks other components register under the entry-point group
    ``gereedschapskist.catalogue.checks`` (for example: image definitions in step with the bundles).
    """
    root = Path(root)
    today = today or date.today()
    problems: list[Problem] = []
    docs: dict[str, Document] = {}
    built: dict[str, list[Any]] = {"roles": [], "bundles": [], "partners": []}

    files = list(_discover(root, problems))
    for kind_dir, rel, is_link in files:
        kind = kind_dir[:-1]  # roles → role
        try:
            document = read_document(root / rel, root, may_be_link=is_link)
        except UnsafeDocument as exc:
            problems.append(Problem(file=rel, line=exc.line, path=json_path(exc.path), message=exc.message,
                                    code=exc.code))
            continue
        docs[rel] = document
        if not isinstance(document.data, dict):
            problems.append(Problem(file=rel, line=1, path="$", code="schema.type",
                                    message=f"must be a mapping of fields (such as 'id: ...'), not "
                                            f"{type(document.data).__name__}"))
            continue
        schema_problems = validate(kind, document, rel)
        problems.extend(schema_problems)
        if schema_problems:
            continue
        built[kind_dir].append(_BUILDERS[kind](document.data, rel))

    roles = {r.id: r for r in built["roles"]}
    partners = {p.id: p for p in built["partners"]}
    examples = examples_by_bundle(root)
    bundles = [replace(b, examples=examples.get(b.id, ())) if b.id in examples else b for b in built["bundles"]]
    context = rules.Context(root=root, today=today, docs=docs, roles=built["roles"], bundles=bundles,
                            partners=built["partners"], examples=examples)
    problems.extend(rules.run(context))
    expired = {p.file for p in problems if p.code == "review.expired" or p.code in rules.REVIEWERS_PLACEHOLDERS}
    bundle_map: dict[str, Bundle] = {}
    for bundle in bundles:
        if bundle.file in expired:
            bundle = replace(bundle, review_expired=True)
        bundle_map.setdefault(bundle.id, bundle)
    catalogue = Catalogue(root=root, roles=roles, bundles=bundle_map, partners=partners)
    if extra_checks:
        for check in _extra_checks():
            problems.extend(check(catalogue))
    problems.sort(key=lambda p: (p.file, p.line or 0, p.path))
    return LoadResult(catalogue=catalogue, problems=problems, files=len(files))


def _extra_checks() -> Iterable[Callable[[Catalogue], Iterable[Problem]]]:
    for ep in sorted(entry_points(group=CHECKS_GROUP), key=lambda e: e.name):
        yield ep.load()


# --------------------------------------------------------------------------- discovering files


def _discover(root: Path, problems: list[Problem]) -> Iterable[tuple[str, str, bool]]:
    """Yield ``(data dir, relative file, is a link)`` for every catalogue file; report anything out of place."""
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    for kind_dir in DATA_DIRS:
        base = root / kind_dir
        if not base.is_dir():
            problems.append(Problem(file=f"{kind_dir}/", code="tree.missing-dir",
                                    message=f"the folder {kind_dir}/ is missing; the catalogue needs "
                                            f"{', '.join(d + '/' for d in DATA_DIRS)}"))
            continue
        depth = 2 if kind_dir == "bundles" else 1
        yield from ((kind_dir, rel, link) for rel, link in _walk(root, base, depth, problems))


def examples_by_bundle(root: Path) -> dict[str, tuple[str, ...]]:
    """``examples/<bundle id>/<name>`` → {bundle id: catalogue-relative paths, sorted}: a bundle's example
    notebooks come from the tree, never from a list by hand (the rule ``examples.*`` checks what is there)."""
    base = root / EXAMPLES_DIR
    found: dict[str, tuple[str, ...]] = {}
    if not base.is_dir():
        return found
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = tuple(_rel(f, root) for f in sorted(folder.iterdir()) if f.is_file() and not f.name.startswith("."))
        found[folder.name] = files
    return found


def _walk(root: Path, directory: Path, depth: int, problems: list[Problem]) -> Iterable[tuple[str, bool]]:
    try:
        check_inside(directory, root)
    except UnsafeDocument as exc:
        problems.append(Problem(file=_rel(directory, root) + "/", code=exc.code, message=exc.message))
        return
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        path = Path(entry.path)
        rel = _rel(path, root)
        if entry.name.startswith("."):
            continue  # .gitkeep and editor files
        if entry.is_dir(follow_symlinks=True):
            if depth > 1:
                yield from _walk(root, path, depth - 1, problems)
            else:
                problems.append(Problem(file=rel + "/", code="tree.unexpected-dir",
                                        message="a folder is not expected here; "
                                                "bundles go in bundles/<role>/<id>.yaml, roles in roles/<id>.yaml, "
                                                "partners in partners/<id>.yaml"))
        elif depth > 1:
            problems.append(Problem(file=rel, code="tree.misplaced",
                                    message="a bundle file must be inside a role folder: bundles/<role>/<id>.yaml"))
        elif not entry.name.endswith(EXTENSION):
            hint = "rename it to end in .yaml" if entry.name.endswith(".yml") else "remove it or move it out"
            problems.append(Problem(file=rel, code="tree.not-yaml",
                                    message=f"is not a catalogue file (name must end in .yaml); {hint}"))
        else:
            yield rel, entry.is_symlink()


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# --------------------------------------------------------------------------- building the model


def _text(data: dict[str, str] | None) -> LocalText | None:
    return LocalText(nl=data["nl"], en=data["en"]) if data else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _role(data: dict[str, Any], rel: str) -> Role:
    return Role(id=data["id"], title=_text(data["title"]), description=_text(data["description"]), file=rel)


def _bundle(data: dict[str, Any], rel: str) -> Bundle:
    life = data["lifecycle"]
    packages = []
    for ecosystem in Ecosystem:
        for requirement in data["packages"].get(ecosystem.value, []):
            name, _, version = requirement.partition("==")
            packages.append(Package(ecosystem=ecosystem, name=name, version=version))
    review = data["security_review"]
    licence = data["licence"]
    return Bundle(
        id=data["id"],
        file=rel,
        title=_text(data["title"]),
        description=_text(data["description"]),
        roles=tuple(data["roles"]),
        version=data["version"],
        lifecycle=Lifecycle(status=Status(life["status"]), since=_date(life.get("since")),
                            successor=life.get("successor"), retires_on=_date(life.get("retires_on")),
                            message=_text(life.get("message"))),
        interfaces=tuple(Interface(i) for i in data["interfaces"]),
        image=Image(**data["image"]),
        packages=tuple(packages),
        sizes=tuple(Size(id=s["id"], cpu=s["cpu"], memory=s["memory"], gpu=s.get("gpu", 0),
                         title=_text(s.get("title")), max_executors=s.get("max_executors", 0))
                    for s in data["sizes"]),
        licence=Licence(spdx=licence["spdx"], open_source=licence["open_source"],
                        justification=licence.get("justification")),
        security_review=SecurityReview(reviewer=review["reviewer"], date=_date(review["date"]),
                                       valid_until=_date(review["valid_until"])),
        supply_model=SupplyModel(data["supply_model"]),
        maintainers=tuple(Maintainer(**m) for m in data["maintainers"]),
        system_packages=tuple(data.get("system_packages", ())),
    )


def _partner(data: dict[str, Any], rel: str) -> Partner:
    template = data["contract_template"]
    return Partner(
        id=data["id"],
        file=rel,
        name=data["name"],
        provider=data["provider"],
        regions=tuple(Region(**r) for r in data["regions"]),
        certifications=tuple(data["certifications"]),
        machine_sizes=tuple(MachineSize(**m) for m in data["machine_sizes"]),
        contract_template=ContractTemplate(id=template["id"], title=_text(template["title"]),
                                           version=template["version"], framework=template.get("framework")),
        size_prices=tuple(ExplicitPrice(**p) for p in data.get("size_prices", [])),
    )


_BUILDERS = {"role": _role, "bundle": _bundle, "partner": _partner}
