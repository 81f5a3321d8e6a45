"""The project's folders, found in one place: repository, catalogue, infra and state.

A running service gets its catalogue folder from its settings (``…_CATALOGUE_DIR``); images install
the project as a wheel and put the catalogue folder beside it. When no folder is configured, the
folders of the source checkout are used: the first folder, going up from the working directory and
then from where this package lies, that holds ``pyproject.toml`` and ``catalogue-of-tools/roles/``.
An installed wheel has no checkout, so there a folder must be configured; :class:`PathNotFound` says so.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .refusal import Refusal

CATALOGUE_FOLDER = "catalogue-of-tools"
INFRA_FOLDER = "infra"
#: The one folder with all local state (databases, secrets, logs), relative to the working directory.
DEFAULT_STATE_DIR = Path(".state")


class PathNotFound(Refusal):
    reason = "path-not-found"


def _is_checkout(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() and (folder / CATALOGUE_FOLDER / "roles").is_dir()


def _search_from(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if _is_checkout(folder):
            return folder
    return None


@cache
def _package_checkout() -> Path | None:
    return _search_from(Path(__file__).resolve().parent)


def repository(start: Path | None = None) -> Path | None:
    """The source checkout: above ``start`` (default: the working directory), else the one this code is in."""
    return _search_from((start or Path.cwd()).resolve()) or _package_checkout()


def _in_checkout(folder: str, what: str, setting: str) -> Path:
    root = repository()
    if root is None:
        raise PathNotFound(None, f"no {what} folder: this installation is not a source checkout; set {setting} "
                                 f"to the folder (e.g. /opt/gereedschapskist/{folder})")
    return root / folder


def catalogue_dir(configured: Path | None = None) -> Path:
    """The catalogue folder: ``configured`` when given, else ``catalogue-of-tools/`` of the checkout."""
    if configured is not None:
        return Path(configured)
    return _in_checkout(CATALOGUE_FOLDER, "catalogue", "the CATALOGUE_DIR setting or --catalogue")


def infra_dir(configured: Path | None = None) -> Path:
    """The folder with the stack files ``Pulumi.<name>.yaml``: ``configured``, else ``infra/`` of the checkout."""
    if configured is not None:
        return Path(configured)
    return _in_checkout(INFRA_FOLDER, "infra", "--infra-dir")
