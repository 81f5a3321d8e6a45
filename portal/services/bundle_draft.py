"""Requesting a bundle, the draft (issue 17; supply model d, "maatwerk op aanvraag"): the form becomes a catalogue
file and the catalogue's one loader says what is wrong with it, every problem named by the form field it concerns.

The form's fields (:data:`FIELDS`): ``title``, ``role``, ``packages`` (one a line: ``name==version`` for PyPI, or
``cran: name==version`` / ``conda-forge: name==version``), ``interfaces`` (jupyterlab, rstudio, vscode; the first
is the default), ``sizes`` (one a line: ``id cpu memory``, e.g. ``small 1 4Gi``; the first is the default) and
``why``. :func:`check` turns them into the bundle file (``catalogue-of-tools/templates/bundle.yaml``'s shape,
``supply_model: custom``) and every problem:

- what the form itself cannot read (a package line without ``==``, a size line without three parts, a role the
  catalogue does not have: it names the file's folder) is refused here, naming the line;
- everything else is decided by :func:`gereedschapskist.catalogue.load_catalogue`: the drafted file is written into
  a copy of the catalogue and the whole catalogue is loaded (schema and cross-file rules in one pass, exactly what
  ``gereedschapskist catalogue check`` runs); the errors the draft adds are mapped back to fields by their JSON path
  (``$.packages.pypi[0]`` → ``packages``). The YAML is written here, never read a second way.

:func:`render_image` writes the bundle's image definition with ``gereedschapskist images render`` on the checked
copy (the portal never imports ``images``). Pure functions of the form and the catalogue: nothing is stored.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

import yaml

from gereedschapskist.catalogue import Catalogue, load_catalogue

from ..errors import InvalidInput
from ..models import User
from ..texts import translator
from .gitops import GitopsFailed

FIELDS = ("title", "role", "packages", "interfaces", "sizes", "why")
#: Problems that concern the file as a whole (licence, review, image, …: what the portal fills in itself).
GENERAL = "bundle"
#: The first part of a problem's JSON path → the form field it concerns.
PATH_FIELDS = {"id": "title", "title": "title", "description": "why", "roles": "role", "packages": "packages",
               "interfaces": "interfaces", "sizes": "sizes"}
ECOSYSTEMS = ("pypi", "cran", "conda-forge")
INTERFACES = ("jupyterlab", "rstudio", "vscode")
TITLE_MIN, TITLE_MAX = 3, 120
WHY_MIN, WHY_MAX = 10, 2000
VERSION = "0.1.0"
CATALOGUE_DIR = "catalogue-of-tools"        # the catalogue's folder in the repository the pull request goes to
IMAGES_DIR = "images"
COPIED = ("roles", "bundles", "partners", "examples")



class BundleRequestRefused(InvalidInput):
    """The form has problems: ``draft`` is the refused draft, ``problems`` its problems by field (422)."""

    status = 422
    reason = "bundle-request-invalid"

    def __init__(self, draft: "Draft"):
        problems = draft.problems
        super().__init__("; ".join(f"{name}: {m}" for name, messages in problems.items() for m in messages))
        self.draft = draft
        self.problems = problems
        self.field = next(iter(problems))


@dataclass
class Draft:
    """A drafted bundle file and every problem with it, by form field (empty: the loader accepts it)."""

    bundle_id: str
    role: str
    file: str                       # relative to the catalogue folder: bundles/<role>/<id>.yaml
    text: str
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "bundle_id": self.bundle_id, "file": f"{CATALOGUE_DIR}/{self.file}",
                "yaml": self.text, "problems": self.problems}

# -- the form → the bundle file --------------------------------------------------------------------------------------

def _lines(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def bundle_id_for(title: str, role: str) -> str:
    """The bundle's id: ``<role>-<title as a slug>`` (at most 63 characters, as the schema's id allows)."""
    slug = _slug(title)
    if role and not slug.startswith(f"{role}-"):
        slug = f"{_slug(role)}-{slug}".strip("-")
    return slug[:63].rstrip("-")


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _form(data: dict[str, Any], t: Callable[..., str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The parts of the bundle the form gives, and what the form itself cannot read (in ``t``'s language)."""
    problems: dict[str, list[str]] = {}

    def refuse(name: str, key: str, **values: Any) -> None:
        problems.setdefault(name, []).append(t(f"bundle_request.problem.{key}", **values))

    title = " ".join(str(data.get("title") or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        refuse("title", "title", title=repr(title), min=TITLE_MIN, max=TITLE_MAX)
    role = str(data.get("role") or "").strip()
    if not role:
        refuse("role", "role")
    why = " ".join(str(data.get("why") or "").split())
    if not WHY_MIN <= len(why) <= WHY_MAX:
        refuse("why", "why", min=WHY_MIN, max=WHY_MAX)
    packages: dict[str, list[str]] = {}
    for number, line in enumerate(_lines(data.get("packages")), 1):
        ecosystem, colon, requirement = line.partition(":")
        if not colon or "==" in ecosystem:
            ecosystem, requirement = "pypi", line
        ecosystem, requirement = ecosystem.strip().lower(), requirement.strip()
        if ecosystem not in ECOSYSTEMS:
            refuse("packages", "source", number=number, line=repr(line), sources=", ".join(ECOSYSTEMS))
        elif "==" not in requirement:
            refuse("packages", "pin", number=number, line=repr(line))
        else:
            packages.setdefault(ecosystem, []).append(requirement.replace(" ", ""))
    if not packages and "packages" not in problems:
        refuse("packages", "no-packages")
    interfaces = data.get("interfaces") or []
    if isinstance(interfaces, str):
        interfaces = [part for part in re.split(r"[\s,]+", interfaces) if part]
    interfaces = [str(i).strip().lower() for i in interfaces]
    sizes = []
    for number, line in enumerate(_lines(data.get("sizes")), 1):
        parts = line.split()
        if len(parts) != 3:
            refuse("sizes", "size", number=number, line=repr(line))
            continue
        sizes.append({"id": parts[0], "cpu": _number(parts[1]), "memory": parts[2]})
    return {"title": title, "role": role, "why": why, "packages": packages, "interfaces": interfaces,
            "sizes": sizes}, problems


def draft_text(form: dict[str, Any], *, bundle_id: str, requester: User, today: date) -> str:
    """The bundle file (the template's fields and order; supply model d)."""
    email = requester.email or "dataplatform@gereedschapskist.nl"
    bundle = {
        "id": bundle_id,
        "title": {"nl": form["title"], "en": form["title"]},
        "description": {"nl": form["why"], "en": form["why"]},
        "roles": [form["role"]],
        "version": VERSION,
        "lifecycle": {"status": "active"},
        "interfaces": form["interfaces"],
        "image": {"repository": f"ghcr.io/gereedschapskist/{bundle_id or 'requested'}", "tag": VERSION},
        "packages": form["packages"],
        "sizes": form["sizes"],
        "licence": {"spdx": "NOASSERTION", "open_source": True},
        "security_review": {"reviewer": "pending: the platform admins' review of this pull request",
                            "date": today.isoformat(), "valid_until": (today + timedelta(days=365)).isoformat()},
        "supply_model": "custom",
        "maintainers": [{"name": requester.display_name(), "email": email}],
    }
    header = (f"# Requested in the portal by {requester.display_name()} ({requester.username}) on {today.isoformat()}"
              f" (supply model d, maatwerk op aanvraag).\n"
              f"# Reviewers: set licence (SPDX, open source or a justification) and security_review before merging.\n")
    return header + yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True, width=100)


def _copy_catalogue(root: Path, target: Path) -> Path:
    for name in COPIED:
        if (root / name).is_dir():
            shutil.copytree(root / name, target / name)
    return target


def _field_of(path: str) -> str:
    head = re.match(r"^\$\.?([A-Za-z_-]+)", path or "$")
    return PATH_FIELDS.get(head.group(1), GENERAL) if head else GENERAL


_BASE_ERRORS: dict[tuple[str, date, float], frozenset] = {}


def _base_errors(root: Path, today: date) -> frozenset:
    """The errors the catalogue has without the draft (normally none), per folder, day and change: the draft is
    blamed only for the errors it adds."""
    stamp = max((p.stat().st_mtime for name in COPIED if (root / name).is_dir() for p in (root / name).rglob("*")),
                default=0.0)
    key = (str(root), today, stamp)
    if key not in _BASE_ERRORS:
        _BASE_ERRORS.clear()
        _BASE_ERRORS[key] = frozenset((p.file, p.path, p.code) for p in load_catalogue(root, today=today).errors)
    return _BASE_ERRORS[key]


def check(catalogue: Catalogue, *, data: dict[str, Any], requester: User, today: date | None = None,
          keep: Path | None = None, language: str = "en") -> Draft:
    """Draft the bundle file from the form and check it with the one loader; every problem, by field.

    ``language``: of the problems the form itself finds (the page's); the loader's messages (they name the JSON path
    and the value) stay as the loader words them, in English, led in Dutch by a phrase that says so.
    ``keep``: a folder to leave the checked catalogue copy in (the pull request renders its image definition
    there)."""
    today = today or date.today()
    t = translator(language)
    form, problems = _form(data, t)
    role = form["role"]
    if role and role not in catalogue.roles:
        problems.setdefault("role", []).append(t("bundle_request.problem.role-unknown", role=repr(role),
                                                 roles=", ".join(sorted(catalogue.roles))))
    bundle_id = bundle_id_for(form["title"], role)
    folder = role if re.fullmatch(r"[a-z][a-z0-9-]{0,62}", role) else "unknown-role"
    rel = f"bundles/{folder}/{bundle_id or 'requested'}.yaml"
    text = draft_text(form, bundle_id=bundle_id, requester=requester, today=today)
    root = Path(catalogue.root)
    with tempfile.TemporaryDirectory(prefix="bundle-request-") as tmp:
        head = _copy_catalogue(root, Path(keep or tmp) / "catalogue")
        target = head / rel
        if target.exists():
            problems.setdefault("title", []).append(
                t("bundle_request.problem.title-taken", bundle=repr(bundle_id), file=rel))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            before = _base_errors(root, today)
            for problem in load_catalogue(head, today=today).errors:
                if (problem.file, problem.path, problem.code) in before:
                    continue
                name = _field_of(problem.path) if problem.file == rel else GENERAL
                value = f" = {problem.value!r}" if problem.has_value else ""
                message = t("bundle_request.problem.loader", message=f"{problem.path}{value}: {problem.message}")
                if message not in problems.get(name, []):
                    problems.setdefault(name, []).append(message)
    return Draft(bundle_id=bundle_id, role=role, file=rel, text=text, problems=problems)



def render_image(catalogue_copy: Path, bundle_id: str, *, timeout: float = 120) -> dict[str, str]:
    """The bundle's image definition (``images/bundles/<id>/…``), by ``gereedschapskist images render`` on the
    checked catalogue copy."""
    images = catalogue_copy.parent / "images"
    images.mkdir(exist_ok=True)
    try:
        result = subprocess.run([sys.executable, "-m", "gereedschapskist", "images", "render", "--catalogue",
                                 str(catalogue_copy), "--images-dir", str(images)], capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GitopsFailed(f"images render did not finish within {timeout:.0f} s",
                                  reason="image-definition-failed") from None
    folder = images / "bundles" / bundle_id
    if result.returncode != 0 or not folder.is_dir():
        output = (result.stdout + result.stderr).replace(str(catalogue_copy.parent), "").strip()
        raise GitopsFailed(f"images render wrote no definition for {bundle_id}: {output[-800:]}",
                                  reason="image-definition-failed")
    return {f"{IMAGES_DIR}/bundles/{bundle_id}/{p.relative_to(folder).as_posix()}": p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file()}
