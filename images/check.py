"""``gereedschapskist catalogue check`` hook: every bundle's image definition is there and in step.

Registered under the entry-point group ``gereedschapskist.catalogue.checks``. For each bundle that
is not retired, the definition under ``images/bundles/<id>/`` must equal what
``gereedschapskist images render`` would write; where it does not, the problems name the bundle
and each package that is missing, pinned differently or extra, at its line in the bundle file.

The images folder is the project's ``images/`` beside the catalogue folder. A catalogue with no
``images/`` folder beside it (a fixture tree in a temporary folder, a catalogue checked on its
own) gets no image problems at all: there is nothing to be in step with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from gereedschapskist.catalogue import Bundle, Catalogue, Ecosystem, Package, Problem, Status
from gereedschapskist.catalogue.problems import json_path
from gereedschapskist.catalogue.safeyaml import UnsafeDocument, read_document

from .bases import UnsupportedBundle
from .render import DOCKERFILE, PACKAGE_FILES, read_package_file, render_bundle
from .tree import BUNDLES, compare_definition, images_dir_for

RENDER_COMMAND = "gereedschapskist images render"


def check_images(catalogue: Catalogue) -> list[Problem]:
    """All image problems of the catalogue (entry point ``images`` of ``gereedschapskist.catalogue.checks``)."""
    images_dir = images_dir_for(catalogue.root)
    if images_dir is None:
        return []
    problems: list[Problem] = []
    for bundle_id in sorted(catalogue.bundles):
        bundle = catalogue.bundles[bundle_id]
        if bundle.lifecycle.status is not Status.RETIRED:
            problems.extend(check_bundle(bundle, images_dir, catalogue.root))
    return problems


def _fix(bundle: Bundle) -> str:
    return f"run `{RENDER_COMMAND}` and commit images/{BUNDLES}/{bundle.id}/"


def check_bundle(bundle: Bundle, images_dir: Path, root: Path) -> list[Problem]:
    try:
        definition = render_bundle(bundle)
    except UnsupportedBundle as exc:
        return [Problem(file=bundle.file, path="$", code="images.unsupported", message=str(exc))]
    folder = images_dir / definition.folder
    if not (folder / DOCKERFILE).is_file():
        return [Problem(file=bundle.file, path="$.image", code="images.missing",
                        message=f"bundle {bundle.id!r} has no image definition "
                                f"(images/{definition.folder}/{DOCKERFILE} is missing); {_fix(bundle)}")]
    drift = compare_definition(images_dir, definition)
    if drift is None:
        return []
    problems = list(_package_problems(bundle, folder, _LineFinder(root, bundle.file)))
    if not problems:
        problems.append(Problem(file=bundle.file, path="$", code="images.outdated",
                                message=f"the image definition of bundle {bundle.id!r} is out of date with the "
                                        f"bundle ({drift.describe()}); {_fix(bundle)}"))
    return problems


def _normal(ecosystem: Ecosystem, name: str) -> str:
    return Package(ecosystem=ecosystem, name=name, version="").key


def _package_problems(bundle: Bundle, folder: Path, lines: "_LineFinder") -> Iterable[Problem]:
    for ecosystem, file_name in PACKAGE_FILES.items():
        try:
            text = (folder / file_name).read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            text = ""
        in_image = {_normal(ecosystem, name): (name, version) for name, version in read_package_file(text).items()}
        listed = bundle.packages_of(ecosystem)
        where = f"images/{BUNDLES}/{bundle.id}/{file_name}"
        for index, package in enumerate(listed):
            path = ("packages", ecosystem.value, index)
            found = in_image.get(package.key)
            if found is None:
                yield Problem(file=bundle.file, path=json_path(path), line=lines(path), value=package.requirement,
                              code="images.package-missing",
                              message=f"bundle {bundle.id!r}: package {package.name} {package.version} "
                                      f"({ecosystem.value}) is missing from its image definition ({where}); "
                                      f"{_fix(bundle)}")
            elif found[1] != package.version:
                yield Problem(file=bundle.file, path=json_path(path), line=lines(path), value=package.requirement,
                              code="images.package-outdated",
                              message=f"bundle {bundle.id!r}: package {package.name} is pinned to {package.version} "
                                      f"but its image definition installs {found[1]} ({where}); {_fix(bundle)}")
        listed_keys = {p.key for p in listed}
        for key, (name, version) in sorted(in_image.items()):
            if key not in listed_keys:
                path = ("packages", ecosystem.value)
                yield Problem(file=bundle.file, path=json_path(path), line=lines(path), value=f"{name}=={version}",
                              code="images.package-extra",
                              message=f"bundle {bundle.id!r}: its image definition installs {name} {version} "
                                      f"({ecosystem.value}), which the bundle does not list ({where}); "
                                      f"{_fix(bundle)}")


class _LineFinder:
    """Line numbers of fields in one bundle file, read (once, lazily) by the catalogue's own reader."""

    def __init__(self, root: Path, rel: str):
        self._root = Path(root)
        self._rel = rel
        self._doc = None
        self._failed = False

    def __call__(self, path: tuple) -> int | None:
        if self._doc is None and not self._failed:
            try:
                self._doc = read_document(self._root / self._rel, self._root)
            except UnsafeDocument:
                self._failed = True
        return self._doc.line_of(path) if self._doc is not None else None
