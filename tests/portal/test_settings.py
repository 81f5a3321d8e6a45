"""The portal's one settings object: defaults, environment variables, production strictness."""

from __future__ import annotations

import pytest

from gereedschapskist.portal.settings import PLACEHOLDER_SECRET, PortalSettings, SettingsInvalid, load_settings


def test_defaults_are_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = PortalSettings()
    assert settings.stage == "development"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / '.state' / 'portal.sqlite'}"
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.secure_cookies is False
    assert settings.resolved_hub_api_url is None


def test_environment_variables_with_the_prefix(monkeypatch):
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_HUB_URL", "http://127.0.0.1:8000/")
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_HUB_API_TOKEN", "abc")
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_HUB_TOKENS", '{"minfin-prod": "xyz"}')
    settings = load_settings()
    assert settings.hub_url == "http://127.0.0.1:8000"
    assert settings.resolved_hub_api_url == "http://127.0.0.1:8000/hub/api"
    assert settings.hub_token("local") == "abc"
    assert settings.hub_token("minfin-prod") == "xyz"
    assert settings.hub_token("elsewhere") is None


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_PUBLIC_URL", "127.0.0.1:8080")
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    assert "GEREEDSCHAPSKIST_PORTAL_PUBLIC_URL = '127.0.0.1:8080'" in str(caught.value)


def test_production_refuses_placeholders_plain_http_and_sqlite():
    with pytest.raises(SettingsInvalid) as caught:
        load_settings(stage="production", public_url="https://portal.example.nl")
    message = str(caught.value)
    assert "SESSION_SECRET" in message and "PostgreSQL" in message and "OIDC_ISSUER" in message
    assert PLACEHOLDER_SECRET not in message
    with pytest.raises(SettingsInvalid) as caught:
        load_settings(stage="production", public_url="http://portal.example.nl", session_secret="x" * 48)
    assert "production needs https://" in str(caught.value)


PRODUCTION = dict(stage="production", session_secret="x" * 48, public_url="https://portal.example.nl",
                  database_url="postgresql+psycopg://portal@db/portal", oidc_issuer="https://login.example.nl",
                  oidc_client_secret="c" * 32, hub_url="https://hub.example.nl", hub_api_token="t" * 64)


def test_production_with_real_values_is_accepted():
    settings = load_settings(**PRODUCTION)
    assert settings.secure_cookies is True


@pytest.mark.parametrize("change, named", [
    ({"oidc_issuer": "http://login.example.nl"}, "OIDC_ISSUER = 'http://login.example.nl'"),
    ({"oidc_issuer": "https://127.0.0.1:9000"}, "not on loopback"),
    ({"oidc_issuer": "https://localhost"}, "not on loopback"),
    ({"oidc_client_secret": None}, "OIDC_CLIENT_SECRET"),
    ({"oidc_client_secret": ""}, "OIDC_CLIENT_SECRET"),
    ({"hub_api_token": None}, "HUB_API_TOKEN"),
])
def test_production_refuses_an_unsafe_issuer_and_missing_secrets(change, named):
    with pytest.raises(SettingsInvalid) as caught:
        load_settings(**{**PRODUCTION, **change})
    assert named in str(caught.value)


@pytest.mark.parametrize("public_url", ["https://portal.example.nl", "http://10.0.0.5:8080", "http://portal"])
@pytest.mark.parametrize("secret", [PLACEHOLDER_SECRET, "s3cr3t-but-brief", "é" * 15])
def test_a_public_portal_refuses_a_placeholder_or_short_secret_whatever_the_stage(public_url, secret):
    """Finding 1: STAGE defaults to development, so the rule cannot depend on it."""
    with pytest.raises(SettingsInvalid) as caught:
        load_settings(public_url=public_url, session_secret=secret)
    assert "SESSION_SECRET" in str(caught.value) and secret not in str(caught.value)


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8080", "http://127.5.0.1", "http://localhost:8080",
                                        "http://[::1]:8080"])
def test_the_placeholder_serves_only_a_portal_on_loopback(public_url):
    assert load_settings(public_url=public_url).session_secret.get_secret_value() == PLACEHOLDER_SECRET


def test_an_unknown_prefixed_variable_stops_the_start_and_names_the_right_one(monkeypatch):
    """pydantic-settings ignores unknown variables even with extra="forbid": the portal checks itself."""
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_GROUPS_CLAIM", "eduperson_entitlement")   # the old name
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_SESION_SECRET", "x" * 40)               # a typo
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    message = str(caught.value)
    assert "GEREEDSCHAPSKIST_PORTAL_GROUPS_CLAIM is not a portal setting; did you mean " \
           "GEREEDSCHAPSKIST_PORTAL_OIDC_GROUPS_CLAIM?" in message
    assert "did you mean GEREEDSCHAPSKIST_PORTAL_SESSION_SECRET?" in message


def test_the_issuer_settings_use_the_hubs_names_and_formats(monkeypatch):
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_OIDC_GROUPS_CLAIM", "eduperson_entitlement")
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_OIDC_USERNAME_CLAIM", "uid")
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_OIDC_SCOPES", "  openid profile\tentitlements ")
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post")
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_OIDC_GROUP_MAPPING", '{"urn:x:org:*": "org:*"}')
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_ORGANISATIONS", "cbs minfin")
    settings = load_settings()
    assert (settings.oidc_groups_claim, settings.oidc_username_claim) == ("eduperson_entitlement", "uid")
    assert settings.oidc_scopes == "openid profile entitlements"
    assert settings.oidc_token_endpoint_auth_method == "client_secret_post"
    assert settings.oidc_group_mapping == {"urn:x:org:*": "org:*"}
    assert settings.accepted_organisations == {"cbs", "minfin"}


@pytest.mark.parametrize("variable, value, named", [
    ("OIDC_SCOPES", '["openid", "groups"]', "space-separated"),
    ("OIDC_SCOPES", "openid,groups", "space-separated"),
    ("OIDC_SCOPES", "profile groups", "must include openid"),
    ("OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "private_key_jwt", "OIDC_TOKEN_ENDPOINT_AUTH_METHOD"),
    ("OIDC_GROUP_MAPPING", '{"urn:x:org:*": "org:cbs"}', "a prefix (ending in *) maps to a prefix"),
])
def test_bad_issuer_settings_are_named(monkeypatch, variable, value, named):
    monkeypatch.setenv(f"GEREEDSCHAPSKIST_PORTAL_{variable}", value)
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    assert named in str(caught.value)


def test_the_readme_documents_every_setting():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name in PortalSettings.model_fields:
        assert f"`GEREEDSCHAPSKIST_PORTAL_{name.upper()}`" in readme, name
