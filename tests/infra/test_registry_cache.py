"""The registry cache (issue 16, item 1): nodes pull every image of a contract environment through a pull-through
cache in the environment's own cloud, never straight from public registries.

Each cloud stage creates the cache (ECR pull-through cache rules, an ACR with cache rules, Artifact Registry remote
repositories) with the nodes' pull permission scoped to it; every image the cluster stage names (the hub's values
with the chart's own defaults merged under them, the hub's profiles, Spark's executors, the egress proxy, the
admission policy's allowed list) is the cache's address, made by one function (``core.registry.mirrored``).
Recorded by Pulumi's mock engine (no cloud here, see infra_harness.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from gereedschapskist.core.registry import UPSTREAMS, ImageNotMirrored, mirrored
from gereedschapskist.core.z2jh import Z2JH_VERSION
from gereedschapskist.hub.kubernetes import profiles_by_role
from gereedschapskist.hub.settings import ENV_PREFIX
from gereedschapskist.infra import stages
from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.infra.manifests import IMAGE_POLICY

from infra_harness import CONTRACT_STACKS, REGISTRY_CREDENTIALS, Recorder, use_mocks

CHART_DEFAULTS = yaml.safe_load((Path(__file__).parents[1] / "hub" / "fixtures" / f"z2jh-{Z2JH_VERSION}" /
                                 "values.yaml").read_text())
CACHES = {"aws": "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
          "google-cloud": "europe-west4-docker.pkg.dev/rws-werkbank-prod"}


def cache_of(rec, name: str) -> str:
    return rec.outputs[name]["registry_cache"]


def merged(defaults: Any, values: Any) -> Any:
    """Helm's merge: the values over the chart's defaults, maps merged key by key."""
    if isinstance(defaults, dict) and isinstance(values, dict):
        return {**defaults, **{k: merged(defaults.get(k), v) for k, v in values.items()}}
    return values if values is not None else defaults


def chart_images(values: dict, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, image name) of every ``image: {name, tag}`` the chart renders, and the pre-puller's extra images."""
    if isinstance(values, dict):
        for key, item in values.items():
            here = f"{path}.{key}"
            if key == "image" and isinstance(item, dict) and "name" in item:
                yield here, item["name"]
            elif key == "extraImages" and isinstance(item, dict):
                yield from ((f"{here}.{k}", v["name"]) for k, v in item.items())
            else:
                yield from chart_images(item, here)


def pod_images(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for key, item in obj.items():
            if key in ("containers", "initContainers") and isinstance(item, list):
                yield from (c["image"] for c in item)
            else:
                yield from pod_images(item)
    elif isinstance(obj, list):
        for item in obj:
            yield from pod_images(item)


def hub_profiles(values: dict, catalogue) -> list[dict]:
    """The profiles the hub renders in the cluster, from the settings the values give it."""
    env = values["hub"]["extraEnv"]
    by_role = profiles_by_role(catalogue, json.loads(env[f"{ENV_PREFIX}BUNDLES"]),
                               json.loads(env[f"{ENV_PREFIX}ROLES"]), image_mirror=env.get(f"{ENV_PREFIX}IMAGE_MIRROR"))
    return [p for profiles in by_role.values() for p in profiles]


# --- the one rewrite ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference, expected", [
    ("ghcr.io/gereedschapskist/hub:1.2.3", "C/ghcr/gereedschapskist/hub:1.2.3"),
    ("ubuntu/squid:6.6-24.04_beta@sha256:abc", "C/docker-hub/ubuntu/squid:6.6-24.04_beta@sha256:abc"),
    ("traefik", "C/docker-hub/library/traefik"),
    ("docker.io/library/python:3.12", "C/docker-hub/library/python:3.12"),
    ("registry.k8s.io/pause:3.10.1", "C/k8s/pause:3.10.1"),
    ("quay.io/jupyterhub/", "C/quay/jupyterhub/"),
    ("C/ghcr/x:1", "C/ghcr/x:1"),
])
def test_mirrored_names_an_image_by_its_path_in_the_cache(reference, expected):
    assert mirrored(reference, "C") == expected
    assert mirrored(reference, None) == reference


def test_an_image_from_a_registry_the_cache_does_not_mirror_is_refused():
    with pytest.raises(ImageNotMirrored, match="nvcr.io"):
        mirrored("nvcr.io/nvidia/k8s-device-plugin:v0.17.1", "C")


# --- the cache in each cloud ----------------------------------------------------------------------------------------

def test_aws_has_a_pull_through_cache_rule_per_upstream_with_credentials_where_ecr_needs_them(deployments):
    name = CONTRACT_STACKS["aws"]
    rec = deployments(name)
    assert cache_of(rec, name) == CACHES["aws"]
    rules = {r.inputs["ecrRepositoryPrefix"]: r.inputs for r in rec.of("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")}
    assert set(rules) == set(UPSTREAMS.values())
    assert rules["docker-hub"]["upstreamRegistryUrl"] == "registry-1.docker.io"
    assert {p for p, r in rules.items() if r.get("credentialArn")} == {"docker-hub", "ghcr"}
    secrets = {r.inputs["name"] for r in rec.of("aws:secretsmanager/secret:Secret")}
    assert {f"ecr-pullthroughcache/{name}-docker-hub", f"ecr-pullthroughcache/{name}-ghcr"} <= secrets
    version = next(r for r in rec.of("aws:secretsmanager/secretVersion:SecretVersion") if r.name.endswith("-ghcr"))
    assert "secretString" in version.secrets
    from infra_harness import reveal
    assert json.loads(reveal(version.inputs)["secretString"]) == {"username": "operator", "accessToken": "ghp_test"}
    # the nodes may fill the cache's repositories, and no others
    policy = json.loads(rec.one("aws:iam/rolePolicy:RolePolicy", f"{name}-nodes-registry-cache").inputs["policy"])
    (statement,) = policy["Statement"]
    assert set(statement["Action"]) == {"ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}
    assert sorted(statement["Resource"]) == sorted(
        f"arn:aws:ecr:eu-central-1:123456789012:repository/{p}/*" for p in UPSTREAMS.values())


def test_azure_has_a_registry_with_cache_rules_that_only_the_kubelet_identity_pulls_from(deployments):
    name = CONTRACT_STACKS["azure"]
    rec = deployments(name)
    registry = rec.one("azure-native:containerregistry:Registry")
    assert cache_of(rec, name) == f"{registry.inputs['registryName']}.azurecr.io"
    assert registry.inputs["adminUserEnabled"] is False and registry.inputs["anonymousPullEnabled"] is False
    rules = {r.inputs["sourceRepository"]: r.inputs["targetRepository"]
             for r in rec.of("azure-native:containerregistry:CacheRule")}
    assert rules == {f"{source}/*": f"{path}/*" for source, path in UPSTREAMS.items()}
    (pull,) = [r for r in rec.of("azure-native:authorization:RoleAssignment")
               if r.inputs["roleDefinitionId"].endswith("7f951dda-4ed3-4680-a7ca-43fe172d538d")]
    assert pull.inputs["scope"] == f"{registry.name}-id"                   # this registry only
    assert pull.inputs["principalId"] == "00000000-0000-0000-0000-0000000000k1"  # the kubelet's identity


def test_google_has_a_remote_repository_per_upstream_and_the_nodes_read_only_those(deployments):
    name = CONTRACT_STACKS["google-cloud"]
    rec = deployments(name)
    assert cache_of(rec, name) == CACHES["google-cloud"]
    repos = {r.inputs["repositoryId"]: r.inputs for r in rec.of("gcp:artifactregistry/repository:Repository")}
    assert set(repos) == set(UPSTREAMS.values())
    assert all(r["mode"] == "REMOTE_REPOSITORY" and r["format"] == "DOCKER" and r["location"] == "europe-west4"
               for r in repos.values())
    assert repos["docker-hub"]["remoteRepositoryConfig"]["dockerRepository"] == {"publicRepository": "DOCKER_HUB"}
    assert repos["ghcr"]["remoteRepositoryConfig"]["commonRepository"] == {"uri": "https://ghcr.io"}
    readers = rec.of("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert sorted(r.inputs["repository"] for r in readers) == sorted(f"{name}-cache-{p}" for p in UPSTREAMS.values())
    assert {r.inputs["role"] for r in readers} == {"roles/artifactregistry.reader"}
    project_roles = {r.inputs["role"] for r in rec.of("gcp:projects/iAMMember:IAMMember")}
    assert "roles/artifactregistry.reader" not in project_roles              # not every repository of the project


def test_aws_refuses_a_stack_without_the_upstream_credentials_before_creating_anything():
    use_mocks(Recorder(), "cbs-ml-prod", {})
    with pytest.raises(StackInvalid) as refused:
        stages.read_registry_credentials(["docker-hub", "ghcr"], source="Pulumi.cbs-ml-prod.yaml")
    assert "registry_credentials.ghcr.token" in str(refused.value)
    use_mocks(Recorder(), "cbs-ml-prod", {f"{stages.CONFIG_NAMESPACE}:{stages.REGISTRY_CREDENTIALS}":
                                          json.dumps(REGISTRY_CREDENTIALS)})
    assert set(stages.read_registry_credentials(["docker-hub", "ghcr"], source="x")) == {"docker-hub", "ghcr"}


# --- every image through the cache --------------------------------------------------------------------------------

@pytest.mark.parametrize("cloud", sorted(CONTRACT_STACKS))
def test_every_image_the_cluster_stage_names_is_pulled_through_the_cache(deployments, catalogue, cloud):
    name = CONTRACT_STACKS[cloud]
    rec = deployments(name)
    cache = cache_of(rec, name) + "/"
    values = rec.helm_releases()["jupyterhub"]["values"]
    outside = [f"values{path} = {image}" for path, image in chart_images(merged(CHART_DEFAULTS, values))
               if not image.startswith(cache)]
    outside += [f"{o['kind']}/{o['metadata']['name']}: {image}" for o in rec.kubernetes_objects()
                for image in pod_images(o) if not image.startswith(cache)]
    outside += [f"profile {p['slug']}: {p['kubespawner_override']['image']}" for p in hub_profiles(values, catalogue)
                if not p["kubespawner_override"]["image"].startswith(cache)]
    for key, file in values["singleuser"].get("extraFiles", {}).items():
        outside += [f"{key}: {line}" for line in file.get("stringData", "").splitlines()
                    if line.startswith("spark.kubernetes.container.image ") and not line.split()[1].startswith(cache)]
    assert outside == []
    assert values["hub"]["extraEnv"][f"{ENV_PREFIX}IMAGE_MIRROR"] == cache_of(rec, name)


@pytest.mark.parametrize("cloud", ["aws", "google-cloud"])  # the production stacks
def test_the_admission_policy_allows_exactly_the_images_the_hub_starts(deployments, catalogue, cloud):
    name = CONTRACT_STACKS[cloud]
    rec = deployments(name)
    cache = cache_of(rec, name)
    policy = next(o for o in rec.kubernetes_objects()
                  if o["kind"] == "ValidatingAdmissionPolicy" and o["metadata"]["name"] == IMAGE_POLICY)
    containers = policy["spec"]["validations"][0]["expression"]
    allowed = set(re.findall(r"'([^']+)'", containers))
    values = rec.helm_releases()["jupyterhub"]["values"]
    started = {p["kubespawner_override"]["image"] for p in hub_profiles(values, catalogue)}
    assert allowed == started
    pulled = {f"{i['name']}:{i['tag']}" for i in values["prePuller"]["extraImages"].values()}
    assert {a.split("@")[0] for a in allowed} == pulled                 # the pre-puller pulls what may run
    init = policy["spec"]["validations"][1]["expression"]
    assert f"c.image.startsWith('{cache}/quay/jupyterhub/')" in init
