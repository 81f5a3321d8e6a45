"""A bundle's Debian ``system_packages`` (issue 17: Java for Spark) on the local backend: asked of this machine's
dpkg; missing ones make the bundle unavailable with what is missing named, as R pins do (and RStudio without
``rserver``) — never a workspace that starts without its tools."""

from __future__ import annotations

import shutil

import pytest

from gereedschapskist.catalogue import Interface, load
from gereedschapskist.core.system_packages import installed_system_packages
from gereedschapskist.hub.bundle_tools import LocalTools
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.launch import LaunchForbidden, authorise_request

CATALOGUE = load()
SPARK = CATALOGUE.bundles["ml-spark"]


class DpkgSays(LocalTools):
    """The real checker with dpkg's answer given (dpkg itself is asked in the last test)."""

    def __init__(self, installed: set[str]):
        super().__init__(lambda: None)
        self.installed = installed

    def system_packages(self, names):
        return frozenset(n for n in names if n in self.installed)


def test_a_missing_system_package_makes_the_bundle_unavailable_naming_it():
    interfaces = LocalInterfaces(which=lambda name: None, tools=DpkgSays(set()), bundles=CATALOGUE.bundles.values())
    status = interfaces.status(Interface.JUPYTERLAB, SPARK)
    assert not status.available and status.missing == "debian openjdk-17-jre-headless"
    assert "ontbreken op deze machine" in status.note
    with pytest.raises(LaunchForbidden) as refused:
        authorise_request(CATALOGUE, ["role:ml"], {"bundle": SPARK.id}, interfaces=interfaces)
    assert refused.value.refusal == "interface-unavailable" and "openjdk-17-jre-headless" in refused.value.message


def test_with_the_system_package_installed_the_bundle_can_start():
    interfaces = LocalInterfaces(which=lambda name: None, tools=DpkgSays({"openjdk-17-jre-headless"}))
    assert interfaces.status(Interface.JUPYTERLAB, SPARK).available


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="not a Debian machine")
def test_this_machines_dpkg_is_asked():
    found = installed_system_packages(["dpkg", "no-such-package-gereedschapskist"])
    assert found == frozenset({"dpkg"})
    assert installed_system_packages([]) == frozenset()
    assert installed_system_packages(["dpkg"], dpkg_query="/nonexistent/dpkg-query") == frozenset()
