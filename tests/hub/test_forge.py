"""git's credential helper for the environment's forge token (issue 17, GitHub/CircleCI row): real git asked as a
push would ask, with only the workspace's environment."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gereedschapskist.hub.forge import TOKEN_VARIABLE, ForgeUrlInvalid, forge_base, git_credential_env

pytestmark = pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")


def fill(url: str, env: dict[str, str], home) -> str:
    """``git credential fill`` for ``url``: what git would send."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    clean.update(HOME=str(home), GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", **env)
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    run = subprocess.run(["git", "credential", "fill"], input=f"protocol={scheme}\nhost={host}\npath={path}\n\n",
                         capture_output=True, text=True, env=clean)
    return run.stdout


def test_git_gets_the_token_for_the_forge_only(tmp_path):
    env = {**git_credential_env("https://github.com/minfin/"), TOKEN_VARIABLE: "ghp_secret123"}
    answer = fill("https://github.com/minfin/analyse.git", env, tmp_path)
    assert "username=x-access-token" in answer and "password=ghp_secret123" in answer
    # another host is not given the token
    assert "ghp_secret123" not in fill("https://evil.example.org/x.git", env, tmp_path)
    assert not list(tmp_path.iterdir())          # nothing written into the home folder


def test_without_a_token_the_helper_answers_nothing(tmp_path):
    answer = fill("https://github.com/minfin/analyse.git", git_credential_env("https://github.com"), tmp_path)
    assert "password=" not in answer


def test_no_forge_no_configuration_and_bad_urls_are_refused():
    assert git_credential_env(None) == {} and git_credential_env("") == {}
    assert forge_base("https://codeberg.org/org/repo") == "https://codeberg.org"
    for bad in ("http://github.com", "github.com", "https://"):
        with pytest.raises(ForgeUrlInvalid):
            forge_base(bad)


def test_the_hub_gives_every_workspace_the_helper_and_the_token():
    from traitlets.config import Config

    from gereedschapskist.hub.config import configure_forge
    from gereedschapskist.hub.settings import HubSettings

    c = Config()
    configure_forge(c, HubSettings(forge_url="https://gitlab.example.nl/team", forge_token="glpat-123"))
    env = c.Spawner.environment
    assert env[TOKEN_VARIABLE] == "glpat-123" and env["GIT_CONFIG_KEY_0"] == "credential.https://gitlab.example.nl.helper"
    plain = Config()
    configure_forge(plain, HubSettings())
    assert "environment" not in plain.Spawner
    with pytest.raises(ForgeUrlInvalid):
        configure_forge(Config(), HubSettings(forge_url="http://gitlab.example.nl"))
