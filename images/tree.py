"""The ``images/`` folder on disk: render every definition, compare it with what is there, write it.

``images/bundles/`` is generated in full: a folder per bundle that is not retired, nothing else
(folders of retired or removed bundles are deleted, stray files in a bundle folder too).
``images/portal/`` and ``images/hub/`` hold generated files among possibly hand-written ones
(a README); only the generated files are compared and written there.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gereedschapskist.catalogue import Catalogue, Status

from .bases import UnsupportedBundle
from .project_images import render_hub, render_portal
from .render import Definition, render_bundle

BUNDLES = "bundles"


@dataclass
class Rendered:
    definitions: dict[str, Definition] = field(default_factory=dict)  # folder → definition
    unsupported: list[UnsupportedBundle] = field(default_factory=list)

    @property
    def bundle_folders(self) -> set[str]:
        return {folder for folder, d in self.definitions.items() if d.bundle_id is not None}


@dataclass(frozen=True)
class Drift:
    """How one folder on disk differs from its rendering (file names relative to ``images/``)."""

    folder: str
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    orphan: bool = False

    def describe(self) -> str:
        if self.orphan:
            return f"{self.folder}/ belongs to no bundle that needs an image (retired or removed)"
        parts = []
        for label, names in (("missing", self.missing), ("out of date", self.changed), ("not generated", self.extra)):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        return f"{self.folder}/: " + "; ".join(parts)


def images_dir_for(catalogue_root: Path) -> Path | None:
    """The project's ``images/`` beside the catalogue folder, or None where there is none (fixture trees)."""
    candidate = Path(catalogue_root).resolve().parent / "images"
    return candidate if candidate.is_dir() else None


def render_all(catalogue: Catalogue, *, bundles_only: bool = False) -> Rendered:
    """Every definition: one per bundle that is not retired, plus the portal and the hub."""
    rendered = Rendered()
    for bundle_id in sorted(catalogue.bundles):
        bundle = catalogue.bundles[bundle_id]
        if bundle.lifecycle.status is Status.RETIRED:
            continue
        try:
            definition = render_bundle(bundle)
        except UnsupportedBundle as exc:
            rendered.unsupported.append(exc)
            continue
        rendered.definitions[definition.folder] = definition
    if not bundles_only:
        for definition in (render_portal(), render_hub()):
            rendered.definitions[definition.folder] = definition
    return rendered


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except UnicodeDecodeError:
        return ""  # never equal to a rendering


def compare_definition(images_dir: Path, definition: Definition) -> Drift | None:
    folder = images_dir / definition.folder
    missing, changed = [], []
    for name, text in definition.files.items():
        on_disk = _read(folder / name)
        if on_disk is None:
            missing.append(f"{definition.folder}/{name}")
        elif on_disk != text:
            changed.append(f"{definition.folder}/{name}")
    extra = []
    if definition.bundle_id is not None and folder.is_dir():
        extra = [f"{definition.folder}/{p.name}" for p in sorted(folder.iterdir()) if p.name not in definition.files]
    if missing or changed or extra:
        return Drift(definition.folder, tuple(missing), tuple(changed), tuple(extra))
    return None


def _orphans(images_dir: Path, rendered: Rendered) -> list[str]:
    keep = rendered.bundle_folders | {f"{BUNDLES}/{e.bundle.id}" for e in rendered.unsupported}
    base = images_dir / BUNDLES
    if not base.is_dir():
        return []
    return [f"{BUNDLES}/{p.name}" for p in sorted(base.iterdir()) if f"{BUNDLES}/{p.name}" not in keep]


def compare(images_dir: Path, rendered: Rendered) -> list[Drift]:
    """Every difference between the rendering and the files under ``images_dir``."""
    drifts = [d for d in (compare_definition(images_dir, definition)
                          for _, definition in sorted(rendered.definitions.items())) if d]
    drifts += [Drift(folder, orphan=True) for folder in _orphans(images_dir, rendered)]
    return drifts


def write(images_dir: Path, rendered: Rendered) -> list[Drift]:
    """Bring ``images_dir`` in step with the rendering; return what had to change (empty: nothing did)."""
    drifts = compare(images_dir, rendered)
    for drift in drifts:
        target = images_dir / drift.folder
        if drift.orphan:
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            continue
        definition = rendered.definitions[drift.folder]
        target.mkdir(parents=True, exist_ok=True)
        for rel in drift.missing + drift.changed:
            name = rel.rsplit("/", 1)[1]
            with open(target / name, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(definition.files[name])
        for rel in drift.extra:
            stray = images_dir / rel
            shutil.rmtree(stray) if stray.is_dir() and not stray.is_symlink() else stray.unlink()
    return drifts
