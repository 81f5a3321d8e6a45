"""Which Debian system packages this machine has: the one question the hub (a bundle's ``system_packages``
available?) and ``gereedschapskist system-packages`` (what ``make up`` installs) both ask."""

from __future__ import annotations

import shutil
import subprocess
from typing import Iterable


def installed_system_packages(names: Iterable[str], *, timeout: float = 30.0,
                              dpkg_query: str | None = None) -> frozenset[str]:
    """The Debian packages among ``names`` that are installed here (dpkg status ``installed``), asked of
    ``dpkg-query``; an empty set where there is no dpkg (not Debian) or it fails."""
    names = list(names)
    dpkg_query = dpkg_query or shutil.which("dpkg-query")
    if not names or not dpkg_query:
        return frozenset()
    try:
        listed = subprocess.run([dpkg_query, "--show", "--showformat=${Package} ${db:Status-Status}\\n", *names],
                                capture_output=True, text=True, timeout=timeout).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    found = set()
    for line in listed.splitlines():
        package, _, status = line.partition(" ")
        if status.strip() == "installed":
            found.add(package.split(":", 1)[0])   # openjdk-17-jre-headless:amd64 → the name without architecture
    return frozenset(found)
