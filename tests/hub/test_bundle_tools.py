"""A bundle's tools beyond PyPI (R and its CRAN pins) decide whether it can start on the local backend (issue 12,
defect 5): without them the hub reports its interfaces unavailable, to its own form, its launch rule and the portal,
instead of starting a workspace that says "ready" and lacks its tools."""

from __future__ import annotations

import shutil

import pytest

from gereedschapskist.catalogue import Interface, load
from gereedschapskist.hub.api import availability_document
from gereedschapskist.hub.bundle_tools import LocalTools
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.launch import LaunchForbidden, authorise_request
from gereedschapskist.hub.options import choices_for

CATALOGUE = load()
R_BUNDLE = CATALOGUE.bundles["bi-r-analysis"]


def fake_r(tmp_path, *installed: str) -> LocalTools:
    """An ``Rscript`` that lists these packages as installed (the real R is tested below)."""
    script = tmp_path / "Rscript"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + "\n".join(installed) + "\nEOF\n", encoding="utf-8")
    script.chmod(0o755)
    return LocalTools(str(script))


def test_without_r_the_r_bundle_lacks_r_and_every_cran_pin(tmp_path):
    missing = LocalTools(None).missing(R_BUNDLE)
    assert missing[0] == "R"
    assert set(missing[1:]) == {p.requirement for p in R_BUNDLE.packages}
    assert LocalTools(None).missing(CATALOGUE.bundles["bi-sql-duckdb"]) == ()     # PyPI only: built per environment


def test_each_cran_pin_must_be_installed_at_exactly_its_version(tmp_path):
    tools = fake_r(tmp_path, "IRkernel==1.3.2", "tidyverse==1.3.2", "DBI==1.2-3", "shiny==1.9.1", "rmarkdown==2.29",
                   "writexl==1.5.1", "base==4.2.2")
    # 1.2-3 and 1.2.3 are one version to R; duckdb is not installed; tidyverse is, in another version
    assert tools.missing(R_BUNDLE) == ("tidyverse==2.0.0", "duckdb==1.1.3")


def test_the_r_bundle_is_unavailable_everywhere_the_hub_decides(tmp_path):
    interfaces = LocalInterfaces(which=lambda name: None, tools=fake_r(tmp_path, "IRkernel==1.3.2"),
                                 bundles=CATALOGUE.bundles.values())
    status = interfaces.status(Interface.JUPYTERLAB, R_BUNDLE)
    assert not status.available and status.missing.startswith("tidyverse==2.0.0, DBI==1.2.3")
    assert "ontbreken op deze machine" in status.note and "are missing on this machine" in status.note
    assert interfaces.status(Interface.JUPYTERLAB).available          # JupyterLab itself can run here
    # the hub's launch rule refuses it (409), its own form disables it, and the portal is told per bundle
    with pytest.raises(LaunchForbidden) as refused:
        authorise_request(CATALOGUE, ["role:bi"], {"bundle": R_BUNDLE.id}, interfaces=interfaces)
    assert refused.value.refusal == "interface-unavailable" and refused.value.status_code == 409
    assert "tidyverse==2.0.0" in refused.value.message
    choice = next(c for c in choices_for(CATALOGUE, ["role:bi"], interfaces) if c.bundle.id == R_BUNDLE.id)
    assert not choice.startable
    document = availability_document(interfaces)
    assert document["interfaces"]["jupyterlab"] == {"available": True}
    assert document["bundles"][R_BUNDLE.id]["jupyterlab"] == {
        "available": False, "reason": "interface-unavailable", "missing": status.missing}
    assert document["bundles"]["bi-sql-duckdb"] == {"jupyterlab": {"available": True}}
    assert set(document["bundles"]) == set(CATALOGUE.bundles)


def test_with_every_pin_installed_the_r_bundle_can_start(tmp_path):
    tools = fake_r(tmp_path, *(p.requirement for p in R_BUNDLE.packages))
    interfaces = LocalInterfaces(which=lambda name: None, tools=tools)
    assert tools.missing(R_BUNDLE) == ()
    assert interfaces.status(Interface.JUPYTERLAB, R_BUNDLE).available
    assert not interfaces.status(Interface.RSTUDIO, R_BUNDLE).available     # still no rserver
    request = authorise_request(CATALOGUE, ["role:bi"], {"bundle": R_BUNDLE.id}, interfaces=interfaces)
    assert request.interface is Interface.JUPYTERLAB


def test_this_machines_r_is_asked(tmp_path):
    """The real R of this machine (``make test`` installs Debian's r-base-core and r-cran-irkernel): IRkernel 1.3.2
    is there, the bundle's tidyverse 2.0.0 is not (Debian has 1.3.2), so the R bundle cannot start here."""
    if not shutil.which("Rscript"):
        pytest.fail("Rscript is missing: run `make test` (it installs Debian's r-base-core and r-cran-irkernel)",
                    pytrace=False)
    tools = LocalTools()
    assert tools.r_packages()["IRkernel"] == "1.3.2"
    missing = tools.missing(R_BUNDLE)
    assert "tidyverse==2.0.0" in missing and "IRkernel==1.3.2" not in missing and "R" not in missing
