"""RStudio / VS Code through jupyter-server-proxy only where their binaries exist on this machine."""

from __future__ import annotations

from gereedschapskist.catalogue import Interface, load
from gereedschapskist.hub.envbuilder import EnvSpec
from gereedschapskist.hub.interfaces import SERVER_PROXY_REQUIREMENT, InterfaceAvailability, LocalInterfaces
from gereedschapskist.hub.launch import authorise_request
from gereedschapskist.hub.spawner import BundleSpawner

CATALOGUE = load()


def fake_binaries(tmp_path, *names) -> LocalInterfaces:
    found = {}
    for name in names:
        path = tmp_path / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
        found[name] = str(path)
    return LocalInterfaces(which=found.get)


def test_jupyterlab_is_always_there_and_others_need_their_binary(tmp_path):
    none = LocalInterfaces(which=lambda name: None)
    assert none.status(Interface.JUPYTERLAB).available
    vscode = none.status(Interface.VSCODE)
    assert not vscode.available and "code-server" in vscode.note
    assert fake_binaries(tmp_path, "code-server").status(Interface.VSCODE).available


def test_server_proxy_entries_point_at_the_installed_binaries(tmp_path):
    interfaces = fake_binaries(tmp_path, "rserver", "code-server")
    servers = interfaces.server_proxy_config((Interface.RSTUDIO, Interface.VSCODE, Interface.JUPYTERLAB))
    assert set(servers) == {"rstudio", "vscode"}
    assert servers["rstudio"]["command"][0] == str(tmp_path / "rserver")
    assert "--www-port={port}" in servers["rstudio"]["command"]
    assert servers["vscode"]["command"][0] == str(tmp_path / "code-server")
    assert any("{port}" in part for part in servers["vscode"]["command"])
    assert LocalInterfaces(which=lambda name: None).server_proxy_config((Interface.RSTUDIO,)) == {}


def test_default_urls():
    assert InterfaceAvailability().default_url(Interface.JUPYTERLAB) == "/lab"
    assert InterfaceAvailability().default_url(Interface.RSTUDIO) == "/rstudio/"


def test_environment_gets_jupyter_server_proxy_only_when_it_serves_a_proxied_interface(tmp_path):
    bundle = CATALOGUE.bundles["dev-python"]  # vscode + jupyterlab
    with_code = BundleSpawner(interfaces=fake_binaries(tmp_path, "code-server"))
    without = BundleSpawner(interfaces=LocalInterfaces(which=lambda name: None))
    request = authorise_request(CATALOGUE, ["role:dev"], {"bundle": bundle.id}, interfaces=with_code.interfaces)
    assert request.interface is Interface.VSCODE
    assert SERVER_PROXY_REQUIREMENT in with_code._env_spec(request).requirements
    assert SERVER_PROXY_REQUIREMENT not in without._env_spec(request).requirements
    assert isinstance(with_code._env_spec(request), EnvSpec)


def test_the_hub_tells_the_portal_what_it_can_serve_and_what_it_lacks(tmp_path):
    """``/hub/api/gereedschapskist/interfaces`` (hub/api.py): machine-readable, no bilingual notes."""
    from gereedschapskist.hub.api import availability_document

    assert availability_document(fake_binaries(tmp_path, "code-server")) == {"interfaces": {
        "jupyterlab": {"available": True},
        "rstudio": {"available": False, "reason": "interface-unavailable", "missing": "rserver"},
        "vscode": {"available": True}}, "bundles": {}}
