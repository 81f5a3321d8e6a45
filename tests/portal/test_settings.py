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
        load_settings(stage="production")
    message = str(caught.value)
    assert "SESSION_SECRET" in message and "https://" in message and "PostgreSQL" in message
    assert PLACEHOLDER_SECRET not in message


def test_production_with_real_values_is_accepted():
    settings = load_settings(stage="production", session_secret="x" * 48, public_url="https://portal.example.nl",
                             database_url="postgresql+psycopg://portal@db/portal")
    assert settings.secure_cookies is True


def test_the_readme_documents_every_setting():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name in PortalSettings.model_fields:
        assert f"`GEREEDSCHAPSKIST_PORTAL_{name.upper()}`" in readme, name
