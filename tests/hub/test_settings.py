"""The hub's one settings object (prefix GEREEDSCHAPSKIST_HUB_)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gereedschapskist.hub.settings import HubSettings, HubSettingsInvalid


def test_settings_come_from_prefixed_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_ALLOWED_GROUPS", '["org:cbs", "org:minfin"]')
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_OIDC_ISSUER", "https://login.example.nl/")
    settings = HubSettings()
    assert settings.state_dir == tmp_path
    assert settings.envs_dir == tmp_path / "envs" and settings.hub_state_dir == tmp_path / "hub"
    assert settings.allowed_groups == ("org:cbs", "org:minfin")
    assert settings.oidc_issuer == "https://login.example.nl"


def test_defaults_are_the_local_development_hub(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("GEREEDSCHAPSKIST_HUB_")]:
        monkeypatch.delenv(name)
    settings = HubSettings()
    assert (settings.backend, settings.stage) == ("local", "development")
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.state_dir == Path(".state")


def test_production_never_runs_the_local_backend():
    with pytest.raises(ValidationError, match="backend=kubernetes"):
        HubSettings(stage="production")


def test_production_refuses_placeholder_secrets():
    settings = HubSettings(stage="production", backend="kubernetes", oidc_issuer="https://login.example.nl",
                           oidc_client_secret="change-me")
    with pytest.raises(HubSettingsInvalid, match="placeholder"):
        settings.require_oidc()


# --------------------------------------------------------------------------- issue 11: settings fail closed


def _clean(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("GEREEDSCHAPSKIST_HUB_")]:
        monkeypatch.delenv(name)


def test_an_unknown_hub_variable_is_an_error_that_names_it(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_OIDC_GROUP_CLAIM", "entitlements")  # misspelt: …GROUPS_CLAIM
    with pytest.raises(ValidationError, match="GEREEDSCHAPSKIST_HUB_OIDC_GROUP_CLAIM"):
        HubSettings()


def test_lists_are_space_separated_as_oauth_writes_scopes_and_json_still_works(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_OIDC_SCOPES", "openid profile  groups")
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_ALLOWED_GROUPS", "org:cbs,org:minfin")
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_ORGANISATIONS", '["cbs", "minfin"]')
    settings = HubSettings()
    assert settings.oidc_scopes == ("openid", "profile", "groups")
    assert settings.allowed_groups == ("org:cbs", "org:minfin")
    assert settings.organisations == ("cbs", "minfin")


def test_token_endpoint_auth_method_is_a_setting(monkeypatch):
    _clean(monkeypatch)
    assert HubSettings().oidc_token_endpoint_auth_method == "client_secret_basic"
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post")
    assert HubSettings().oidc_token_endpoint_auth_method == "client_secret_post"
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "private_key_jwt")
    with pytest.raises(ValidationError):
        HubSettings()


def test_on_kubernetes_login_settings_are_refused_with_where_they_come_from(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_BACKEND", "kubernetes")
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_OIDC_GROUPS_CLAIM", "eduperson_entitlement")
    with pytest.raises(ValidationError, match=r"OIDC_GROUPS_CLAIM \(set oidc.groups_claim in the environment's stack"):
        HubSettings()


def test_infra_and_the_helm_values_set_only_names_the_components_read():
    """Every ``GEREEDSCHAPSKIST_HUB_*`` / ``_PORTAL_*`` name the infra program and the Helm values write is a
    field of HubSettings / PortalSettings (a wrong name was once silently ignored)."""
    import re
    from pathlib import Path

    from gereedschapskist.catalogue import load
    from gereedschapskist.core.environment import load_environment
    from gereedschapskist.hub.values import render_values
    from gereedschapskist.portal.settings import PortalSettings

    root = Path(__file__).resolve().parents[2]
    infra_dir = Path(__file__).parent / "fixtures" / "infra"
    written = set(render_values(load_environment("minfin-dev", infra_dir), load())["hub"]["extraEnv"])
    for path in sorted((root / "infra").rglob("*.py")) + [root / "hub" / "values.py"]:
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r"GEREEDSCHAPSKIST_(?:HUB|PORTAL)_[A-Z0-9_]+", text))
        for prefix_name, prefix in re.findall(r"(\w*PREFIX\w*) = \"(GEREEDSCHAPSKIST_(?:HUB|PORTAL)_)\"", text):
            written |= {prefix + name for name in re.findall(r'\{' + prefix_name + r'\}([A-Z0-9_]+)', text)}
    read = {f"GEREEDSCHAPSKIST_HUB_{f.upper()}" for f in HubSettings.model_fields}
    read |= {f"GEREEDSCHAPSKIST_PORTAL_{f.upper()}" for f in PortalSettings.model_fields}
    written = {n for n in written if n.startswith("GEREEDSCHAPSKIST_") and not n.endswith("_")}
    assert any(n.startswith("GEREEDSCHAPSKIST_PORTAL_") for n in written), written
    unknown = sorted(written - read)
    assert not unknown, f"infra or the Helm values set names nobody reads: {unknown}"
