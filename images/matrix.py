"""The CI build matrix, computed from the tree and the git diff — never a hand-kept list.

A bundle image is built when a file of its definition (``images/bundles/<id>/``) changed between
the base and head revisions; the project images (portal, hub) when anything in their build context
changed. Without a usable base revision (the first push of a branch, a manual run) everything is
built.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gereedschapskist.catalogue import Catalogue

from . import toolchain as tc
from .project_images import HUB_SMOKE, PORTAL_SMOKE, PROJECT_FILES, SOURCES
from .tree import BUNDLES, Rendered, render_all

DEFAULT_REGISTRY = "ghcr.io/gereedschapskist"
_NO_REVISION = re.compile(r"^0*$")


class MatrixError(Exception):
    """The matrix cannot be computed (git failed, or the catalogue and the registry disagree)."""


@dataclass(frozen=True)
class Plan:
    bundles: list[dict[str, Any]]
    project: list[dict[str, Any]]

    def as_outputs(self) -> dict[str, str]:
        return {
            "bundles": json.dumps({"include": self.bundles}, separators=(",", ":")),
            "has-bundles": "true" if self.bundles else "false",
            "project": json.dumps({"include": self.project}, separators=(",", ":")),
            "has-project": "true" if self.project else "false",
        }


def changed_files(repo: Path, base: str | None, head: str = "HEAD") -> list[str] | None:
    """Paths changed from ``base`` to ``head`` (None: no usable base, so everything counts as changed)."""
    if base is None or _NO_REVISION.match(base.strip()):
        return None
    probe = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{base}^{{commit}}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None  # e.g. a force-push removed the old head: build everything rather than nothing
    result = subprocess.run(["git", "-C", str(repo), "diff", "--name-only", "--no-renames", base, head],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise MatrixError(f"git diff {base} {head} failed: {result.stderr.strip() or result.stdout.strip()}")
    return [line for line in result.stdout.splitlines() if line]


def _touches(changed: list[str] | None, prefixes: tuple[str, ...]) -> bool:
    if changed is None:
        return True
    return any(path == p.rstrip("/") or path.startswith(p if p.endswith("/") else p + "/") for path in changed
               for p in prefixes)


def plan(catalogue: Catalogue, changed: list[str] | None, *, registry: str | None = None,
         images_prefix: str = "images") -> Plan:
    """The bundles and project images to build, with everything a build job needs to know."""
    rendered: Rendered = render_all(catalogue)
    bundles, mismatched = [], []
    for folder, definition in sorted(rendered.definitions.items()):
        if definition.bundle_id is None or not _touches(changed, (f"{images_prefix}/{folder}/",)):
            continue
        bundle = catalogue.bundles[definition.bundle_id]
        expected = f"{registry}/{bundle.id}" if registry else None
        if expected and bundle.image.repository != expected:
            mismatched.append(f"{bundle.file}: image.repository is {bundle.image.repository!r} but this "
                              f"registry pushes {expected!r}")
        bundles.append({
            "bundle": bundle.id,
            "version": bundle.version,
            "context": f"{images_prefix}/{folder}",
            "dockerfile": f"{images_prefix}/{folder}/Dockerfile",
            "repository": bundle.image.repository,
            "tag": bundle.image.tag,
            "image": f"{bundle.image.repository}:{bundle.image.tag}",
            "base": definition.base,
            "froms": " ".join(definition.froms),
            "platform": tc.PLATFORM,
        })
    if mismatched:
        raise MatrixError("the catalogue's image repositories do not match the registry configured for this "
                          "workflow (repository variable IMAGE_REGISTRY):\n  " + "\n  ".join(mismatched)
                          + "\nchange the bundles' image.repository, or the IMAGE_REGISTRY variable")
    context = tuple(f"{name}/" for name in SOURCES) + PROJECT_FILES
    project = []
    for name, smoke in (("portal", PORTAL_SMOKE), ("hub", HUB_SMOKE)):
        definition = rendered.definitions[name]
        own = (f"{images_prefix}/{name}/",)
        inputs = [p for p in (changed or []) if not p.startswith(f"{images_prefix}/{BUNDLES}/")]
        if changed is None or _touches(inputs, context + own):
            project.append({
                "name": name,
                "dockerfile": f"{images_prefix}/{name}/Dockerfile",
                "repository": f"{registry or DEFAULT_REGISTRY}/{name}",
                "base": definition.base,
                "froms": " ".join(definition.froms),
                "platform": tc.PLATFORM,
                "smoke": "\n".join(smoke),
            })
    return Plan(bundles=bundles, project=project)
