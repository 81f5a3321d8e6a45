"""The app frameworks a published app may use (issue 17, section 1), one list for the hub and the portal: each
framework's PyPI package, which must be pinned in the bundle the app runs on, and its entry file's kind."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from .image_layout import APP_SERVER_FILE


@dataclass(frozen=True, slots=True)
class Framework:
    """A framework an app may use: the PyPI package that must be in the bundle, and what its entry file is."""

    id: str
    package: str
    suffixes: tuple[str, ...]
    label: str


FRAMEWORKS: dict[str, Framework] = {f.id: f for f in (
    Framework("panel", "panel", (".py", ".ipynb"), "Panel"),
    Framework("voila", "voila", (".ipynb",), "Voilà"),
    Framework("streamlit", "streamlit", (".py",), "Streamlit"),
    Framework("dash", "dash", (".py",), "Dash"),
    Framework("shiny", "shiny", (".py",), "Shiny for Python"),
)}


def bundle_frameworks(bundle) -> tuple[str, ...]:
    """The frameworks whose package the bundle pins (PyPI), in :data:`FRAMEWORKS` order."""
    names = {p.name.lower() for p in bundle.packages if getattr(p.ecosystem, "value", p.ecosystem) == "pypi"}
    return tuple(f.id for f in FRAMEWORKS.values() if f.package in names)


def app_server_source() -> str:
    """The app server's code, ``hub/app_server.py`` (one standalone file): the local hub runs it from there, and the
    image of every bundle with an app framework holds a copy of exactly these bytes (``images/render.py``), read
    here as a file of the package so the image definitions need not import the hub."""
    return (resources.files("gereedschapskist") / "hub" / APP_SERVER_FILE).read_text(encoding="utf-8")
