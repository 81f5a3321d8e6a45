"""The platform's three database identities (README "The register and the two database roles", issue 11 finding 2).

* the managed server's **admin** (the user the cloud creates with the database): only the roles Job's init
  container holds its password, and uses it for ``gereedschapskist db init-roles``;
* the **owner role** ``gereedschapskist_owner``: owns the tables; only the Job holds its password, and runs
  ``gereedschapskist db upgrade`` as it, after init-roles;
* the **runtime role** ``gereedschapskist_portal``: the portal's pods connect as it; they hold no other password.

Recorded by Pulumi's mock engine on each partner (see infra_harness.py); test_kubernetes_objects.py validates the
same Job and Deployment against the Kubernetes schema.
"""

from __future__ import annotations

import json
import re
from importlib.metadata import entry_points
from typing import Any, Iterator

import pytest
import typer

from infra_harness import PLATFORM_PLACES

OWNER, RUNTIME, ADMIN = "gereedschapskist_owner", "gereedschapskist_portal", "portal"
URL_ENV = "GEREEDSCHAPSKIST_PORTAL_DATABASE_URL"


@pytest.fixture(params=sorted(PLATFORM_PLACES))
def rec(request, deployments):
    return deployments(f"platform:{request.param}")


def _objects(rec) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rec.kubernetes_objects()}


def _pod(rec, kind: str) -> dict[str, Any]:
    (obj,) = [o for o in rec.kubernetes_objects() if o["kind"] == kind and o["metadata"]["namespace"] == "portal"]
    return obj["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _secret_refs(pod: dict[str, Any]) -> Iterator[str]:
    """Every Secret a pod can read: envFrom, env, volumes (also projected ones)."""
    for container in _containers(pod):
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                yield source["secretRef"]["name"]
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref["name"]
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            yield volume["secret"]["secretName"]
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                yield source["secret"]["name"]


def _remote_keys(rec, secret: str) -> set[str]:
    external = _objects(rec)[("ExternalSecret", secret)]["spec"]
    return {d["remoteRef"]["key"] for d in external["data"]}


def _url(rec, secret: str, key: str) -> str:
    return _objects(rec)[("ExternalSecret", secret)]["spec"]["target"]["template"]["data"][key]


def _env_secret(container: dict[str, Any], name: str) -> dict[str, str]:
    (env,) = [e for e in container.get("env", []) if e["name"] == name]
    assert "value" not in env, f"{name} is written into the pod spec"
    return env["valueFrom"]["secretKeyRef"]


def test_the_portal_pods_read_only_the_runtime_roles_secret(rec):
    pod = _pod(rec, "Deployment")
    assert set(_secret_refs(pod)) == {"portal-secrets"}
    # portal-secrets is made from the runtime role's password (and session and OIDC secrets), never from the
    # admin's or the owner's, which only the Job's secrets name.
    portal_keys = _remote_keys(rec, "portal-secrets")
    admin_keys, owner_keys = _remote_keys(rec, "portal-db-admin"), _remote_keys(rec, "portal-db-owner")
    runtime_keys = _remote_keys(rec, "portal-db-runtime")
    assert len(admin_keys | owner_keys | runtime_keys) == 3
    assert not portal_keys & (admin_keys | owner_keys)
    assert runtime_keys <= portal_keys
    for container in _containers(pod):
        assert not any(e["name"] == URL_ENV for e in container.get("env", []))


def test_the_portal_connects_as_the_runtime_role(rec):
    url = _url(rec, "portal-secrets", URL_ENV)
    assert re.fullmatch(rf"postgresql\+psycopg://{RUNTIME}:\{{\{{ \.runtime_password \}}\}}@[^/:]+:5432/portal"
                        r"\?sslmode=require", url), url
    external = _objects(rec)[("ExternalSecret", "portal-secrets")]["spec"]
    (runtime_key,) = _remote_keys(rec, "portal-db-runtime")
    assert {"secretKey": "runtime_password", "remoteRef": {"key": runtime_key}} in external["data"]


def test_the_job_runs_init_roles_as_the_admin_before_the_migrations_as_the_owner(rec):
    pod = _pod(rec, "Job")
    assert pod["restartPolicy"] == "Never"
    (init_roles,) = pod["initContainers"]  # init containers complete, in order, before the containers start
    (migrate,) = pod["containers"]
    assert init_roles["command"] == [
        "gereedschapskist", "db", "init-roles", "--owner-role", OWNER, "--runtime-role", RUNTIME,
        "--owner-password-file", "/secrets/owner/password", "--runtime-password-file", "/secrets/portal/password"]
    assert migrate["command"] == ["gereedschapskist", "db", "upgrade"]
    # The database URL comes from a Secret (the CLI's default for --database-url), never from the pod spec.
    assert _env_secret(init_roles, URL_ENV) == {"name": "portal-db-admin", "key": "url"}
    assert _env_secret(migrate, URL_ENV) == {"name": "portal-db-owner", "key": "url"}
    assert _url(rec, "portal-db-admin", "url").startswith(f"postgresql+psycopg://{ADMIN}:{{{{ .password }}}}@")
    assert _url(rec, "portal-db-owner", "url").startswith(f"postgresql+psycopg://{OWNER}:{{{{ .password }}}}@")
    servers = {_url(rec, "portal-db-admin", "url"), _url(rec, "portal-db-owner", "url"),
               _url(rec, "portal-secrets", URL_ENV)}
    assert len({url.split("@", 1)[1] for url in servers}) == 1  # one server and database for all three
    # The password files are the two roles' Secrets, key `password` only, read-only.
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount_path, secret in (("/secrets/owner", "portal-db-owner"), ("/secrets/portal", "portal-db-runtime")):
        (mount,) = [m for m in init_roles["volumeMounts"] if m["mountPath"] == mount_path]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["secret"] == {"secretName": secret,
                                                    "items": [{"key": "password", "path": "password"}]}
    assert _objects(rec)[("ExternalSecret", "portal-db-runtime")]["spec"]["target"]["template"]["data"] == {
        "password": "{{ .password }}"}
    # Only the init container holds the admin's URL and the runtime password; the migrations hold only the owner's.
    assert set(_secret_refs({"containers": [migrate]})) == {"portal-db-owner"}
    assert set(_secret_refs(pod)) == {"portal-db-admin", "portal-db-owner", "portal-db-runtime"}
    # No portal settings: the Job needs neither the session secret nor the OIDC client secret.
    assert not any("envFrom" in c for c in _containers(pod))


def test_no_password_is_written_into_the_job_or_the_deployment(rec):
    for kind in ("Job", "Deployment"):
        pod = json.dumps(_pod(rec, kind))
        assert "fake-password" not in pod and "{{" not in pod
        for container in _containers(_pod(rec, kind)):
            for env in container.get("env", []):
                assert "value" not in env or "postgres" not in env["value"]


def test_the_job_comes_after_its_secrets_and_before_the_deployment(rec):
    order = {(r.typ.rsplit(":", 1)[-1], r.inputs["metadata"]["name"]): r.order
             for r in rec.resources if r.typ.startswith("kubernetes:") and r.custom and "metadata" in r.inputs}
    job = next(order[key] for key in order if key[0] == "Job")
    for secret in ("portal-db-admin", "portal-db-owner", "portal-db-runtime"):
        assert order[("ExternalSecret", secret)] < job
    assert job < order[("Deployment", "portal")]
    assert order[("ExternalSecret", "portal-secrets")] < order[("Deployment", "portal")]


def _parse(argv: list[str]) -> dict[str, Any]:
    """The options of a command line as the real CLI parses them (unknown options raise); nothing runs."""
    assert argv[:2] == ["gereedschapskist", "db"]
    (entry,) = [ep for ep in entry_points(group="gereedschapskist.commands") if ep.name == "db"]
    command = typer.main.get_command(entry.load()).commands[argv[2]]
    return command.make_context(argv[2], list(argv[3:])).params


def test_the_jobs_command_lines_are_the_clis(deployments):
    pod = _pod(deployments("platform:azure"), "Job")
    init_roles = _parse(pod["initContainers"][0]["command"])
    assert (init_roles["owner_role"], init_roles["runtime_role"]) == (OWNER, RUNTIME)
    assert str(init_roles["owner_password_file"]) == "/secrets/owner/password"
    assert str(init_roles["runtime_password_file"]) == "/secrets/portal/password"
    assert init_roles["owner_password"] is None and init_roles["runtime_password"] is None
    assert init_roles["database_url"] is None  # so it reads GEREEDSCHAPSKIST_PORTAL_DATABASE_URL
    assert _parse(pod["containers"][0]["command"])["database_url"] is None
    with pytest.raises(Exception, match="No such option: --owner-role"):  # typer's own click
        _parse(["gereedschapskist", "db", "upgrade", "--owner-role", OWNER])
