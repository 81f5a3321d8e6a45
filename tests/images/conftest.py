"""Fixtures for the image tests: the project's own catalogue and images, and fixture project trees.

A fixture project is a temporary folder with ``catalogue-of-tools/`` (a copy of the catalogue's
data) and ``images/`` beside it, rendered — the same shape as the repository, so the
``gereedschapskist catalogue check`` hook applies to it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from gereedschapskist.catalogue import Catalogue, load
from gereedschapskist.images.tree import render_all, write

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "catalogue-of-tools"
IMAGES = REPO / "images"
DATA_DIRS = ("roles", "bundles", "partners")


@dataclass
class Project:
    root: Path
    catalogue: Path
    images: Path

    def bundle_file(self, rel: str) -> Path:
        return self.catalogue / rel

    def edit(self, path: Path, old: str, new: str) -> None:
        """Replace ``old`` (which must occur exactly once) by ``new`` in a text file."""
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def load(self) -> Catalogue:
        return load(self.catalogue)


def copy_catalogue(target: Path) -> Path:
    for name in DATA_DIRS:
        shutil.copytree(CATALOGUE / name, target / name)
    return target


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load(CATALOGUE)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    cat_dir = copy_catalogue(root / "catalogue-of-tools")
    images = root / "images"
    images.mkdir()
    write(images, render_all(load(cat_dir)))
    return Project(root=root, catalogue=cat_dir, images=images)
