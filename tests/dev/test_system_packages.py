"""``gereedschapskist system-packages`` (``make up``/``make test``): installs the catalogue's Debian packages where
this machine allows (root with apt-get), else says clearly what is missing and for which bundles."""

from __future__ import annotations

import subprocess

from gereedschapskist.catalogue import load
from gereedschapskist.dev.system_packages import ensure, needed

WANTED = {"openjdk-17-jre-headless": ("ml-spark",), "git": ("dev-python", "ml-spark")}


def test_the_offered_bundles_needs_come_from_the_catalogue():
    found = needed(load())
    assert found["openjdk-17-jre-headless"] == ("ml-spark",)


def test_root_with_apt_get_installs_what_is_missing_and_retries_after_an_update():
    have = {"git"}
    calls = []

    def run(argv, env):
        calls.append(argv[1])
        if argv[1] == "install" and calls.count("update") == 0:
            return subprocess.CompletedProcess(argv, 100)          # no package lists yet
        if argv[1] == "install":
            have.update(a for a in argv if not a.startswith("-") and a not in ("install", "/usr/bin/apt-get"))
        assert env["DEBIAN_FRONTEND"] == "noninteractive"
        return subprocess.CompletedProcess(argv, 0)

    lines = []
    left = ensure(WANTED, install=True, echo=lines.append, installed=lambda names: frozenset(n for n in names
                                                                                            if n in have),
                  apt_get="/usr/bin/apt-get", is_root=True, run=run)
    assert left == [] and calls == ["install", "update", "install"]
    assert lines == ["installing the system packages the catalogue's bundles need: openjdk-17-jre-headless"]


def test_without_root_nothing_is_installed_and_what_is_missing_is_named():
    def run(argv, env):
        raise AssertionError("nothing may be run")

    lines = []
    left = ensure(WANTED, install=True, echo=lines.append, installed=lambda names: frozenset(), apt_get="/usr/bin/apt-get",
                  is_root=False, run=run)
    assert left == ["openjdk-17-jre-headless", "git"]
    assert lines[0] == ("! system package openjdk-17-jre-headless is not installed: this needs root and apt-get; "
                        "bundles that need it: ml-spark (shown as unavailable on this machine until it is installed)")
    assert lines[-1] == "  install them with: sudo apt-get install --no-install-recommends openjdk-17-jre-headless git"


def test_everything_present_says_so():
    lines = []
    assert ensure(WANTED, install=True, echo=lines.append, installed=lambda names: frozenset(names)) == []
    assert lines == ["✓ system packages present: openjdk-17-jre-headless, git"]
