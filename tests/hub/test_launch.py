"""The server-side launch rule: every refusal is a clear 403/4xx with a machine reason, from the catalogue."""

from __future__ import annotations

import pytest

from gereedschapskist.catalogue import Interface, load
from gereedschapskist.hub.bundle_tools import LocalTools
from gereedschapskist.hub.interfaces import InterfaceAvailability, LocalInterfaces
from gereedschapskist.hub.launch import REASON_HEADER, LaunchForbidden, authorise_request

CATALOGUE = load()
NOTHING_INSTALLED = LocalInterfaces(which=lambda name: None, tools=LocalTools(None))


class _Installed(LocalTools):
    """Every CRAN pin installed at its version (the real R is asked in test_bundle_tools.py)."""

    def missing(self, bundle):
        return ()


R_PACKAGES_INSTALLED = _Installed(None)
EVERYTHING = InterfaceAvailability()


def refused(groups, options, interfaces=NOTHING_INSTALLED, **kwargs) -> LaunchForbidden:
    with pytest.raises(LaunchForbidden) as error:
        authorise_request(CATALOGUE, groups, options, interfaces=interfaces, **kwargs)
    return error.value


def test_allowed_launch_gives_bundle_size_and_interface():
    request = authorise_request(CATALOGUE, ["org:cbs", "role:ml"], {"bundle": "ml-python", "size": "medium"},
                                interfaces=NOTHING_INSTALLED)
    assert (request.bundle.id, request.size.id, request.interface) == ("ml-python", "medium", Interface.JUPYTERLAB)
    assert request.as_user_options() == {"bundle": "ml-python", "size": "medium", "interface": "jupyterlab"}


def test_default_size_is_the_first():
    request = authorise_request(CATALOGUE, ["role:bi"], {"bundle": "bi-sql-duckdb"}, interfaces=NOTHING_INSTALLED)
    assert request.size.id == CATALOGUE.bundles["bi-sql-duckdb"].sizes[0].id


@pytest.mark.parametrize(("groups", "options", "status", "reason", "words"), [
    (["role:bi"], {"bundle": "ml-pytorch-gpu"}, 403, "role", "for the role ml"),
    (["org:minfin"], {"bundle": "bi-sql-duckdb"}, 403, "role", "you do not have that role"),
    (["role:bi"], {"bundle": "bi-sql-classic"}, 403, "not-offered", "retired"),
    (["role:bi"], {"bundle": "nope"}, 403, "unknown-bundle", "no bundle 'nope'"),
    (["role:bi"], {"bundle": "bi-sql-duckdb", "size": "xxl"}, 403, "unknown-size", "choose small, medium, large"),
    (["role:bi"], {}, 400, "no-bundle", "offered to you: bi-dashboards"),
    (["role:bi"], {"bundle": "bi-sql-duckdb", "image": "evil:latest"}, 400, "bad-options", "image"),
    (["role:bi"], {"bundle": ["bi-sql-duckdb"]}, 400, "bad-options", "must be a string"),
    (["role:bi"], {"bundle": "bi-sql-duckdb", "interface": "vscode"}, 400, "unknown-interface", "choose jupyterlab"),
])
def test_refusals(groups, options, status, reason, words):
    error = refused(groups, options)
    assert (error.status_code, error.refusal) == (status, reason)
    assert words in error.message
    assert error.headers == {REASON_HEADER: reason}
    assert error.jupyterhub_message == error.message  # what JupyterHub shows on the form and in the API


def test_environment_limits_bundles():
    error = refused(["role:bi"], {"bundle": "bi-dashboards"}, environment_bundles=["bi-sql-duckdb"])
    assert error.refusal == "not-in-environment"


def test_unavailable_interface_is_refused_before_spawn_and_named():
    error = refused(["role:bi"], {"bundle": "bi-r-analysis", "interface": "rstudio"})
    assert (error.status_code, error.refusal) == (409, "interface-unavailable")
    assert "`rserver`" in error.message
    # without a choice the first interface that works here is taken (where the bundle's R packages are installed)
    r_installed = LocalInterfaces(which=lambda name: None, tools=R_PACKAGES_INSTALLED)
    request = authorise_request(CATALOGUE, ["role:bi"], {"bundle": "bi-r-analysis"}, interfaces=r_installed)
    assert request.interface is Interface.JUPYTERLAB
    # without its R packages no interface of it starts here (hub/bundle_tools.py)
    error = refused(["role:bi"], {"bundle": "bi-r-analysis"})
    assert (error.status_code, error.refusal) == (409, "interface-unavailable")
    assert "The tools of bi-r-analysis are missing on this machine" in error.message
    # where the image brings RStudio (Kubernetes) it is the bundle's first interface
    request = authorise_request(CATALOGUE, ["role:bi"], {"bundle": "bi-r-analysis"}, interfaces=EVERYTHING)
    assert request.interface is Interface.RSTUDIO


def test_kubespawner_profile_key_is_an_alias_of_bundle():
    request = authorise_request(CATALOGUE, ["role:ml"], {"profile": "ml-python", "size": "large"},
                                interfaces=EVERYTHING)
    assert request.bundle.id == "ml-python"
