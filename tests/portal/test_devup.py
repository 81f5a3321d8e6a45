"""The portal's step in ``gereedschapskist up`` (the full ``up`` run is tests/hub/test_up.py)."""

from __future__ import annotations

from types import SimpleNamespace

from gereedschapskist.dev.devstack import DevSecrets
from gereedschapskist.dev.up import UpContext, all_steps
from gereedschapskist.portal.devup import portal_environment, session_secret
from gereedschapskist.portal.settings import PortalSettings


def test_the_portal_starts_after_provider_and_hub():
    names = [s.name for s in all_steps()]
    assert names.index("portal") > names.index("jupyterhub") > names.index("oidc-provider")


def test_the_session_secret_is_random_and_kept(tmp_path):
    first = session_secret(tmp_path)
    assert len(first) >= 32 and session_secret(tmp_path) == first
    assert (tmp_path / "portal-session-secret").stat().st_mode & 0o777 == 0o600
    assert session_secret(tmp_path / "other") != first


def test_the_portal_is_configured_for_the_local_provider_and_hub(tmp_path, monkeypatch):
    secrets = DevSecrets.load_or_create(tmp_path)
    ctx = UpContext(tmp_path, {"portal": 8080, "hub": 8000, "provider": 8090}, secrets,
                    catalogue_dir=tmp_path / "catalogue",
                    provider=SimpleNamespace(issuer="http://127.0.0.1:8090"),
                    hub=SimpleNamespace(url="http://127.0.0.1:8000"))
    env = portal_environment(ctx)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = PortalSettings()                          # exactly what the portal process will read
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.oidc_issuer == "http://127.0.0.1:8090" and settings.oidc_client_id == "portal"
    assert settings.oidc_client_secret.get_secret_value() == secrets.portal_client_secret
    assert settings.hub_url == "http://127.0.0.1:8000" and settings.hub_token("local") == secrets.portal_api_token
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert settings.catalogue_dir == tmp_path / "catalogue"
