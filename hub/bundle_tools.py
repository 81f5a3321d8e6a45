"""Whether this machine holds a bundle's tools beyond PyPI, for the local backend.

The local backend builds a bundle's Python packages with uv, but R and its CRAN packages come from the machine
(Debian's ``r-base-core`` and ``r-cran-*``, which ``make up`` installs where missing): a bundle whose CRAN pins
are not all installed here, at exactly their versions, cannot start here — its workspace would lack its own
tools. A bundle's ``system_packages`` (Debian names) must be installed here too (``dpkg-query``; ``make up``
installs them where it can, :mod:`gereedschapskist.dev.system_packages`). conda-forge packages have no local
installer at all. :class:`~.interfaces.LocalInterfaces` reports such a
bundle's interfaces as unavailable, naming what is missing, so neither the hub nor the portal offers it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from typing import Callable, Mapping

from gereedschapskist.catalogue import Bundle, Ecosystem
from gereedschapskist.core.system_packages import installed_system_packages

#: Lists every installed R package as ``name==version``, one a line.
_R_LIST = 'ip <- installed.packages()[, c("Package", "Version"), drop = FALSE]; ' \
          'cat(paste(ip[, 1], ip[, 2], sep = "=="), sep = "\\n")'


def _version(text: str) -> tuple[int, ...] | str:
    """R compares ``1.1-3`` and ``1.1.3`` as equal; so do we."""
    parts = re.split(r"[.-]", text.strip())
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else text.strip()


class LocalTools:
    """What a bundle needs that is not built per environment: R with its CRAN pins (checked against the R library
    of this machine, remembered for ``ttl`` seconds), and nothing from conda-forge."""

    def __init__(self, rscript: str | None | Callable[[], str | None] = lambda: shutil.which("Rscript"),
                 *, ttl: float = 60.0, timeout: float = 60.0):
        self._rscript = rscript if callable(rscript) else (lambda: rscript)
        self._ttl = ttl
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cache: tuple[float, str | None, Mapping[str, str]] | None = None
        self._system_cache: dict[tuple[str, ...], tuple[float, frozenset[str]]] = {}

    def __deepcopy__(self, memo: dict) -> "LocalTools":
        """One checker per hub (its memory and lock are shared): JupyterHub deep-copies the configuration."""
        return self

    @property
    def rscript(self) -> str | None:
        return self._rscript()

    def r_packages(self) -> Mapping[str, str]:
        """Installed R packages → version (empty without R)."""
        rscript = self.rscript
        with self._lock:
            now = time.monotonic()
            if self._cache and self._cache[1] == rscript and now - self._cache[0] < self._ttl:
                return self._cache[2]
            found: dict[str, str] = {}
            if rscript:
                try:
                    listed = subprocess.run([rscript, "--vanilla", "-e", _R_LIST], capture_output=True, text=True,
                                            timeout=self._timeout, check=True).stdout
                except (OSError, subprocess.SubprocessError):
                    listed = ""
                for line in listed.splitlines():
                    name, sep, version = line.partition("==")
                    if sep:
                        found.setdefault(name.strip(), version.strip())
            self._cache = (now, rscript, found)
            return found

    def system_packages(self, names: tuple[str, ...]) -> frozenset[str]:
        """Which of ``names`` are installed on this machine (Debian's ``dpkg-query``; none without it), remembered
        for ``ttl`` seconds like the R library."""
        key = tuple(sorted(names))
        now = time.monotonic()
        cached = self._system_cache.get(key)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        found = installed_system_packages(key, timeout=self._timeout)
        self._system_cache[key] = (now, found)
        return found

    def missing(self, bundle: Bundle) -> tuple[str, ...]:
        """What this machine lacks for the bundle: ``R``, ``name==version`` per CRAN pin not installed at that
        version, ``debian name`` per system package not installed, ``conda-forge name==version`` per conda-forge pin.
        Empty: everything is here."""
        lacking: list[str] = []
        cran = bundle.packages_of(Ecosystem.CRAN)
        if cran:
            if not self.rscript:
                lacking.append("R")
            installed = self.r_packages() if self.rscript else {}
            for package in cran:
                have = installed.get(package.name)
                if have is None or _version(have) != _version(package.version):
                    lacking.append(package.requirement)
        if bundle.system_packages:
            have_system = self.system_packages(bundle.system_packages)
            lacking += [f"debian {name}" for name in bundle.system_packages if name not in have_system]
        lacking += [f"conda-forge {p.requirement}" for p in bundle.packages_of(Ecosystem.CONDA_FORGE)]
        return tuple(lacking)

