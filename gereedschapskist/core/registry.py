"""Images through the environment's registry cache (issue 16, item 1): the one rewrite of an image reference.

Production networks and private clusters may not reach public registries, so each contract environment's cloud
stage creates a pull-through cache in its own cloud (ECR pull-through cache rules, an ACR with cache rules, Artifact
Registry remote repositories: ``infra/partners``), one cache path per upstream registry. The cluster stage and the
hub then name every image by its address in that cache::

    ghcr.io/gereedschapskist/hub:1.2.3   ->  <cache>/ghcr/gereedschapskist/hub:1.2.3
    ubuntu/squid:6.6-24.04_beta@sha256:… ->  <cache>/docker-hub/ubuntu/squid:6.6-24.04_beta@sha256:…
    registry.k8s.io/pause:3.10.1         ->  <cache>/k8s/pause:3.10.1

``<cache>`` is known from the stack's configuration alone (the cloud's registry host and account), so the hub's
values, the admission policy and the pods agree on it before any resource exists. An image from a registry the cache
has no path for is refused (fail closed): it would be pulled from the internet, or not at all.
"""

from __future__ import annotations

#: Upstream registry -> its path in the cache. Docker Hub's short names (``ubuntu/squid``, ``traefik``) are Docker
#: Hub's, official images under ``library/``.
UPSTREAMS: dict[str, str] = {
    "docker.io": "docker-hub",
    "ghcr.io": "ghcr",
    "quay.io": "quay",
    "registry.k8s.io": "k8s",
}
#: The address each upstream is pulled from by the cache.
UPSTREAM_URLS: dict[str, str] = {
    "docker.io": "registry-1.docker.io",
    "ghcr.io": "ghcr.io",
    "quay.io": "quay.io",
    "registry.k8s.io": "registry.k8s.io",
}
DOCKER_HUB = "docker.io"


class ImageNotMirrored(ValueError):
    """An image from a registry the environment's cache does not mirror."""


def upstream(reference: str) -> tuple[str, str]:
    """``(registry, repository[:tag][@digest])`` of an image reference, Docker's defaults applied."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, reference
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path.split("@")[0].split(":")[0]:
        path = f"library/{path}"
    return registry, path


def mirrored(reference: str, cache: str | None) -> str:
    """``reference`` as pulled through ``cache`` (``None``: unchanged, e.g. the local hub). A repository prefix
    (``quay.io/jupyterhub/``) is rewritten the same way."""
    if not cache:
        return reference
    if reference.startswith(cache.rstrip("/") + "/"):
        return reference                                   # already the cache's
    registry, path = upstream(reference)
    if registry not in UPSTREAMS:
        raise ImageNotMirrored(f"image {reference!r}: registry {registry!r} has no path in the registry cache "
                               f"{cache!r} (it mirrors {', '.join(sorted(UPSTREAMS))})")
    return f"{cache.rstrip('/')}/{UPSTREAMS[registry]}/{path}"

