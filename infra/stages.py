"""Every stack runs in two stages (issue 16, item 1), as two Pulumi stacks of the one program.

* **cloud** (stack ``<name>``, run from anywhere with the cloud's credentials): network, managed Kubernetes,
  registry access, object storage, the secret store with every secret written into it, and a **runner**: a small
  machine inside the network, without a public address, whose identity may administer the cluster.
* **cluster** (stack ``<name>.cluster``, run *on the runner*: the cluster's API endpoint is private): everything
  inside Kubernetes. It reads what it needs of the cloud stage through a ``StackReference``; it creates no cloud
  resource and writes no secret.

The stack name says the stage: environment names never contain a dot, so ``<name>.cluster`` is unambiguous.
Both stages read the same stack file ``Pulumi.<name>.yaml``; the secrets (``pulumi config set --secret``) belong
to the cloud stage, which writes them into the store before the cluster stage's readers exist.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Literal, Mapping

import pulumi

from .errors import INVALID_CONFIG, StackInvalid

CLOUD: Literal["cloud"] = "cloud"
CLUSTER: Literal["cluster"] = "cluster"
Stage = Literal["cloud", "cluster"]
CLUSTER_SUFFIX = ".cluster"
CONFIG_NAMESPACE = "gereedschapskist"

# Secrets the cloud stage takes from the stack's configuration (`pulumi config set --secret`, item 3 and 8) and
# writes into the cloud's secret store. Contract environments:
HUB_OIDC_CLIENT_SECRET = "hub_oidc_client_secret"   # the hub's OIDC client secret, from the issuer
PORTAL_HUB_TOKEN = "portal_hub_token"               # the portal's token at this environment's hub (item 8)
# The platform:
PORTAL_OIDC_CLIENT_SECRET = "portal_oidc_client_secret"
HUB_TOKENS = "hub_tokens"                           # environment name -> the same token as above (item 8)
#: Contract environments on a cloud whose registry cache authenticates upstream (ECR: Docker Hub, GHCR): an object
#: cache path -> {username, token} (`pulumi config set --secret --path gereedschapskist:registry_credentials.ghcr.token`).
REGISTRY_CREDENTIALS = "registry_credentials"
CONTRACT_SECRETS = (HUB_OIDC_CLIENT_SECRET, PORTAL_HUB_TOKEN)
PLATFORM_SECRETS = (PORTAL_OIDC_CLIENT_SECRET, HUB_TOKENS)
SECRET_CONFIG_KEYS = tuple(f"{CONFIG_NAMESPACE}:{key}" for key in (*CONTRACT_SECRETS, *PLATFORM_SECRETS,
                                                                     REGISTRY_CREDENTIALS))
MIN_TOKEN_LENGTH = 32


def split_stack_name(stack_name: str) -> tuple[str, Stage]:
    """``cbs-ml-prod`` -> (cbs-ml-prod, cloud); ``cbs-ml-prod.cluster`` -> (cbs-ml-prod, cluster)."""
    if stack_name.endswith(CLUSTER_SUFFIX):
        return stack_name[: -len(CLUSTER_SUFFIX)], CLUSTER
    if "." in stack_name:
        raise StackInvalid(INVALID_CONFIG, f"stack {stack_name!r}: the only stage suffix is {CLUSTER_SUFFIX!r} "
                                           f"(the cluster stage); the cloud stage's stack is the plain name")
    return stack_name, CLOUD


def cloud_stage(base: str, parent: pulumi.Resource) -> pulumi.StackReference:
    """The cloud stage's outputs, read by the cluster stage (same organisation, project and backend)."""
    return pulumi.StackReference(f"{base}-cloud-stage",
                                 stack_name=f"{pulumi.get_organization()}/{pulumi.get_project()}/{base}",
                                 opts=pulumi.ResourceOptions(parent=parent))


def _set_secret_command(key: str, path: str = "") -> str:
    return f"pulumi config set --secret {'--path ' if path else ''}{CONFIG_NAMESPACE}:{key}{path} <value>"


def read_secrets(keys: Iterable[str], *, source: str, token_environments: Iterable[str] = ()
                 ) -> dict[str, pulumi.Output[Any]]:
    """The stack's secrets (cloud stage), refused before any resource exists when one is missing or too short.

    ``hub_tokens`` is an object (environment name -> token); ``token_environments`` names environments that
    must have one."""
    problems: list[str] = []
    secrets: dict[str, pulumi.Output[Any]] = {}
    for key in keys:
        raw = pulumi.runtime.get_config(f"{CONFIG_NAMESPACE}:{key}")  # read as a secret below (no warning)
        if (raw is None or raw == "") and key == HUB_TOKENS:
            raw = "{}"  # a platform without contract environments yet: the portal drives no hub
        if raw is None or raw == "":
            problems.append(f"{source}: config {CONFIG_NAMESPACE}:{key} = (missing): set it with "
                            f"`{_set_secret_command(key, '.<environment>' if key == HUB_TOKENS else '')}`")
            continue
        if key == HUB_TOKENS:
            problems += _token_problems(source, raw, token_environments)
            secrets[key] = pulumi.Output.secret(raw).apply(json.loads)
        else:
            if key == PORTAL_HUB_TOKEN and len(raw) < MIN_TOKEN_LENGTH:
                problems.append(f"{source}: config {CONFIG_NAMESPACE}:{key}: at least {MIN_TOKEN_LENGTH} characters "
                                f"(openssl rand -hex 32)")
            secrets[key] = pulumi.Output.secret(raw)
    if problems:
        raise StackInvalid(INVALID_CONFIG, problems)
    return secrets


def _token_problems(source: str, raw: str, environments: Iterable[str]) -> list[str]:
    try:
        tokens = json.loads(raw)
    except ValueError:
        tokens = None
    if not isinstance(tokens, Mapping) or not all(isinstance(v, str) for v in tokens.values()):
        return [f"{source}: config {CONFIG_NAMESPACE}:{HUB_TOKENS}: an object of environment name -> token "
                f"(`{_set_secret_command(HUB_TOKENS, '.<environment>')}`)"]
    problems = [f"{source}: config {CONFIG_NAMESPACE}:{HUB_TOKENS}.{env}: at least {MIN_TOKEN_LENGTH} characters"
                for env, token in tokens.items() if len(token) < MIN_TOKEN_LENGTH]
    problems += [f"{source}: config {CONFIG_NAMESPACE}:{HUB_TOKENS}.{env} = (missing): set it with "
                 f"`{_set_secret_command(HUB_TOKENS, '.' + env)}`" for env in environments if env not in tokens]
    return problems


def read_registry_credentials(paths: Iterable[str], *, source: str) -> dict[str, pulumi.Output[str]]:
    """The registry cache's upstream credentials (cloud stage) for the cache ``paths`` that need them, each as the
    JSON ECR's pull-through cache reads (``{"username", "accessToken"}``); refused before any resource exists when
    one is missing."""
    paths = sorted(paths)
    if not paths:
        return {}
    raw = pulumi.runtime.get_config(f"{CONFIG_NAMESPACE}:{REGISTRY_CREDENTIALS}")
    try:
        given = json.loads(raw) if raw else {}
    except ValueError:
        given = None
    if not isinstance(given, Mapping):
        raise StackInvalid(INVALID_CONFIG, f"{source}: config {CONFIG_NAMESPACE}:{REGISTRY_CREDENTIALS}: an object of "
                                           f"cache path -> {{username, token}}")
    problems, found = [], {}
    for path in paths:
        entry = given.get(path)
        for field in ("username", "token"):
            if not isinstance(entry, Mapping) or not entry.get(field):
                problems.append(f"{source}: config {CONFIG_NAMESPACE}:{REGISTRY_CREDENTIALS}.{path}.{field} = "
                                f"(missing): the registry cache pulls from this upstream with your account; set it "
                                f"with `{_set_secret_command(REGISTRY_CREDENTIALS, f'.{path}.{field}')}`")
        if not problems:
            found[path] = pulumi.Output.secret(json.dumps({"username": entry["username"],
                                                           "accessToken": entry["token"]}))
    if problems:
        raise StackInvalid(INVALID_CONFIG, problems)
    return found
