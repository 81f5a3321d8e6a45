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
