"""git in a workspace knows the environment's forge (GitHub, GitLab, Forgejo) without a password prompt.

The workspace's environment gets ``GEREEDSCHAPSKIST_FORGE_TOKEN`` (the environment's token for its forge) and git
configuration through git's own environment variables (``GIT_CONFIG_COUNT``/``_KEY_n``/``_VALUE_n``, git ≥ 2.31):
a credential helper **for the forge's URL only** that answers with that token. The token is never written to a file
in the home folder, and git sends it to no other host. The helper prints nothing when the token is unset.
"""

from __future__ import annotations

from urllib.parse import urlsplit

TOKEN_VARIABLE = "GEREEDSCHAPSKIST_FORGE_TOKEN"
#: The helper git runs (``!`` = a shell command); ``$1`` is git's operation: only ``get`` is answered.
HELPER = (f'!f() {{ test "$1" = get && test -n "${TOKEN_VARIABLE}" && '
          f'echo username=x-access-token && echo "password=${TOKEN_VARIABLE}"; }}; f')


class ForgeUrlInvalid(ValueError):
    """The forge URL is not an https:// URL of a host."""


def forge_base(url: str) -> str:
    """``https://github.com/org/`` → ``https://github.com`` (git matches credentials by scheme and host)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ForgeUrlInvalid(f"the forge URL must be https://<host>, not {url!r}")
    return f"https://{parts.netloc}"


def git_credential_env(forge_url: str | None) -> dict[str, str]:
    """The git configuration variables of a workspace for ``forge_url`` (none when no forge is configured)."""
    if not forge_url:
        return {}
    base = forge_base(forge_url)
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": f"credential.{base}.helper",
        "GIT_CONFIG_VALUE_0": HELPER,
        "GIT_CONFIG_KEY_1": f"credential.{base}.useHttpPath",
        "GIT_CONFIG_VALUE_1": "false",
    }
