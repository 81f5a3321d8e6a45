"""The spawn form's choices come from the catalogue model: roles, lifecycle, sizes, interfaces."""

from __future__ import annotations

from gereedschapskist.catalogue import load
from gereedschapskist.hub.bundle_tools import LocalTools
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.options import choices_for, options_from_form, render_form

CATALOGUE = load()
NOTHING_INSTALLED = LocalInterfaces(which=lambda name: None)


def test_choices_follow_roles_and_never_include_retired_bundles():
    bi = [c.bundle.id for c in choices_for(CATALOGUE, ["org:minfin", "role:bi"], NOTHING_INSTALLED)]
    assert bi == [b.id for b in CATALOGUE.offered_for(["bi"])]
    assert "bi-sql-classic" not in bi  # retired
    assert all("bi" in CATALOGUE.bundles[b].roles for b in bi)
    assert choices_for(CATALOGUE, ["org:minfin", "org-admin:minfin"], NOTHING_INSTALLED) == []


def test_deprecated_bundles_name_their_successor_in_the_form():
    deprecated = next(b for b in CATALOGUE.bundles.values() if b.deprecated and b.offered)
    choices = choices_for(CATALOGUE, [f"role:{deprecated.roles[0]}"], NOTHING_INSTALLED)
    html = render_form(choices)
    choice = next(c for c in choices if c.bundle.id == deprecated.id)
    assert deprecated.lifecycle.successor in choice.deprecation
    assert "Deprecated — use" in html and deprecated.lifecycle.successor in html


def test_form_lists_sizes_and_marks_missing_interfaces():
    choices = choices_for(CATALOGUE, ["role:bi"], NOTHING_INSTALLED)
    html = render_form(choices)
    r_bundle = CATALOGUE.bundles["bi-r-analysis"]
    for size in r_bundle.sizes:
        assert f'<option value="{size.id}"' in html
    assert '<option value="rstudio" disabled>' in html
    assert "RStudio is not installed on this machine (no `rserver`)" in html
    assert 'name="bundle" id="bundle-bi-r-analysis" value="bi-r-analysis"' in html


def test_form_with_installed_rstudio_offers_it(tmp_path):
    rserver = tmp_path / "rserver"
    rserver.write_text("#!/bin/sh\n")
    rserver.chmod(0o755)
    # and the bundle's own R packages (an Rscript that lists them as installed; hub/bundle_tools.py)
    rscript = tmp_path / "Rscript"
    pins = "\n".join(p.requirement for p in CATALOGUE.bundles["bi-r-analysis"].packages)
    rscript.write_text(f"#!/bin/sh\ncat <<'EOF'\n{pins}\nEOF\n")
    rscript.chmod(0o755)
    installed = LocalInterfaces(which=lambda name: str(rserver) if name == "rserver" else None,
                                tools=LocalTools(str(rscript)))
    html = render_form(choices_for(CATALOGUE, ["role:bi"], installed))
    assert '<option value="rstudio">RStudio</option>' in html
    # without them, neither RStudio nor JupyterLab of the R bundle is offered: its workspace would lack its tools
    lacking = LocalInterfaces(which=lambda name: str(rserver) if name == "rserver" else None, tools=LocalTools(None))
    html = render_form(choices_for(CATALOGUE, ["role:bi"], lacking))
    assert '<option value="rstudio">RStudio</option>' not in html
    assert 'value="bi-r-analysis" disabled>' in html


def test_form_data_becomes_launch_options():
    form = {"bundle": ["bi-sql-duckdb"], "size--bi-sql-duckdb": ["large"], "size--bi-dashboards": ["small"],
            "interface--bi-sql-duckdb": ["jupyterlab"], "_xsrf": ["x"]}
    assert options_from_form(form) == {"bundle": "bi-sql-duckdb", "size": "large", "interface": "jupyterlab"}
    assert options_from_form({}) == {}


def test_no_roles_gives_a_clear_message():
    assert "Your roles give access to no bundles" in render_form([])
