"""``render_values`` / ``gereedschapskist hub values``: the z2jh Helm values of an environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gereedschapskist import __version__
from gereedschapskist.catalogue import load
from gereedschapskist.cli import build_app
from gereedschapskist.hub.roles import NEVER_FOR_ADMINS, PLATFORM_ADMIN_ROLE, PORTAL_SCOPES
from gereedschapskist.core.environment import EnvironmentSpec, load_environment
from gereedschapskist.hub.values import CATALOGUE_MOUNT, ValuesInvalid, render_values

INFRA = Path(__file__).parent / "fixtures" / "infra"
CATALOGUE = load()


@pytest.fixture(scope="module")
def dev_values() -> dict:
    return render_values(load_environment("minfin-dev", INFRA), CATALOGUE)


@pytest.fixture(scope="module")
def prod_values() -> dict:
    return render_values(load_environment("cbs-prod", INFRA), CATALOGUE)


def test_hub_runs_this_projects_image_and_configuration(dev_values):
    hub = dev_values["hub"]
    assert hub["image"] == {"name": "ghcr.io/gereedschapskist/hub", "tag": __version__}
    assert "configure(c)" in hub["extraConfig"]["gereedschapskist"]
    assert hub["extraEnv"]["GEREEDSCHAPSKIST_HUB_BACKEND"] == "kubernetes"
    assert hub["extraEnv"]["GEREEDSCHAPSKIST_HUB_OIDC_CLIENT_SECRET"] == {
        "valueFrom": {"secretKeyRef": {"name": "hub-oidc-client", "key": "client-secret"}}}
    assert hub["allowNamedServers"] is True and hub["namedServerLimitPerUser"] == 2


def test_generic_oauthenticator_takes_groups_from_the_token(dev_values):
    auth = dev_values["hub"]["config"]["GenericOAuthenticator"]
    assert dev_values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "generic-oauth"
    assert auth["client_id"] == "hub-minfin-dev"
    assert auth["oauth_callback_url"] == "https://hub.minfin-dev.gereedschapskist.nl/hub/oauth_callback"
    assert auth["manage_groups"] is True and auth["auth_state_groups_key"] == "oauth_user.groups"
    assert auth["allowed_groups"] == ["gereedschapskist:admins", "org:minfin"] and auth["allow_all"] is False
    assert auth["admin_groups"] == []  # nobody gets JupyterHub's admin role (it can open every server)
    assert auth["basic_auth"] is True   # client_secret_basic, the stack file's default
    assert "client_secret" not in auth  # never in values: it comes from a Secret


def test_catalogue_files_mounted_into_the_hub_load_as_the_same_catalogue(dev_values, tmp_path):
    for item in dev_values["hub"]["extraFiles"].values():
        assert item["mountPath"].startswith(CATALOGUE_MOUNT + "/")
        target = tmp_path / item["mountPath"][len(CATALOGUE_MOUNT) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["stringData"], encoding="utf-8")
    mounted = load(tmp_path)
    assert set(mounted.bundles) == set(CATALOGUE.bundles)
    assert set(mounted.roles) == set(CATALOGUE.roles) and set(mounted.partners) == set(CATALOGUE.partners)


def _offered(values: dict) -> tuple[list[str], list[str]]:
    env = values["hub"]["extraEnv"]
    return json.loads(env["GEREEDSCHAPSKIST_HUB_ROLES"]), json.loads(env["GEREEDSCHAPSKIST_HUB_BUNDLES"])


def test_the_hub_gets_what_the_environment_offers_and_renders_the_profiles_itself(dev_values):
    roles, bundles = _offered(dev_values)
    assert roles == sorted(CATALOGUE.roles)
    assert bundles == sorted(b.id for b in CATALOGUE.offered_for(roles))
    assert "profileList" not in dev_values["singleuser"]  # no second copy of the catalogue in the values
    assert "profiles" not in dev_values["custom"]["gereedschapskist"]


def test_the_hub_accepts_the_environments_groups_and_sends_people_to_the_portal(dev_values, prod_values):
    """The hub's group rule (core.groups.accept_groups) gets the stack file's organisation, admin group and mapping;
    /hub/spawn (and the first launch's single sign-on) returns to the portal_url of the stack file."""
    accepted = dev_values["hub"]["config"]["GereedschapskistAuthenticator"]
    assert accepted == {"organisations": ["minfin"], "platform_admin_group": "gereedschapskist:admins",
                        "group_mapping": {}}
    assert dev_values["hub"]["extraEnv"]["GEREEDSCHAPSKIST_HUB_PORTAL_URL"] == "https://portal.gereedschapskist.nl"
    assert "GEREEDSCHAPSKIST_HUB_PORTAL_URL" not in prod_values["hub"]["extraEnv"]   # left out of that stack file


def test_culling_and_portal(dev_values):
    assert dev_values["cull"] == {"enabled": True, "timeout": 1800, "every": 300, "users": False,
                                  "adminUsers": True, "removeNamedServers": False}
    assert dev_values["hub"]["loadRoles"]["gereedschapskist-portal"]["scopes"] == list(PORTAL_SCOPES)


def test_admins_get_custom_roles_without_access_to_servers_or_tokens(dev_values):
    """Finding 3: the admin group and org-admin:minfin get roles of their own; no admin role may open a server,
    make a token for someone, or change users; users cannot start servers themselves (only the portal)."""
    roles = dev_values["hub"]["loadRoles"]
    platform = roles[PLATFORM_ADMIN_ROLE]
    assert platform["groups"] == ["gereedschapskist:admins"]
    assert {"read:users", "read:servers", "delete:servers"} <= set(platform["scopes"])
    org = roles["gereedschapskist-org-admin-minfin"]
    assert org["groups"] == ["org-admin:minfin"]
    assert {s for s in org["scopes"] if s != "admin-ui"} == {
        "read:groups!group=org:minfin", "list:users!group=org:minfin", "read:users!group=org:minfin",
        "read:servers!group=org:minfin", "delete:servers!group=org:minfin"}
    for role in (platform, org):
        assert not {s.split("!")[0] for s in role["scopes"]} & NEVER_FOR_ADMINS, role
    user = roles["user"]
    assert not {s.split("!")[0] for s in user["scopes"]} & {"servers", "start:servers", "self"}
    assert "access:servers!user" in user["scopes"] and "delete:servers!user" in user["scopes"]
    assert dev_values["hub"]["config"]["JupyterHub"].get("admin_access") is None  # deprecated, not checked


def test_the_auth_state_key_comes_from_the_hubs_secret(dev_values):
    env = dev_values["hub"]["extraEnv"]
    assert env["JUPYTERHUB_CRYPT_KEY"] == {"valueFrom": {"secretKeyRef": {"name": "hub-oidc-client",
                                                                          "key": "crypt-key"}}}


def test_non_root_everywhere(dev_values):
    assert dev_values["hub"]["containerSecurityContext"]["runAsNonRoot"] is True
    assert dev_values["hub"]["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert dev_values["proxy"]["chp"]["containerSecurityContext"]["runAsNonRoot"] is True
    single = dev_values["singleuser"]
    assert single["uid"] == 1000 and single["allowPrivilegeEscalation"] is False
    assert single["cloudMetadata"] == {"blockWithIptables": False}  # that init container runs privileged


def test_production_restricts_egress_and_roles(dev_values, prod_values):
    assert dev_values["singleuser"]["networkPolicy"]["egressAllowRules"]["nonPrivateIPs"] is True
    assert prod_values["singleuser"]["networkPolicy"]["egressAllowRules"]["nonPrivateIPs"] is False
    roles, bundles = _offered(prod_values)
    assert sorted(roles) == ["bi", "ml"]
    assert bundles == sorted(b.id for b in CATALOGUE.offered_for(["bi", "ml"]))
    assert prod_values["hub"]["extraEnv"]["GEREEDSCHAPSKIST_HUB_OIDC_CLIENT_SECRET"]["valueFrom"][
        "secretKeyRef"]["name"] == "hub-cbs-oidc"


def _spec(**changes) -> EnvironmentSpec:
    return load_environment("minfin-dev", INFRA).model_copy(update=changes)


def test_unknown_or_retired_bundles_are_refused_by_name():
    with pytest.raises(ValuesInvalid) as error:
        render_values(_spec(bundles=("bi-sql-duckdb", "no-such-bundle", "bi-sql-classic")), CATALOGUE)
    message = str(error.value)
    assert "'no-such-bundle' is not in the catalogue" in message
    assert "'bi-sql-classic' is not offered" in message
    assert "bi-sql-duckdb" not in message


def test_unknown_roles_are_refused():
    with pytest.raises(ValuesInvalid, match="'quantum'"):
        render_values(_spec(roles=("bi", "quantum")), CATALOGUE)


def test_cli_prints_the_same_values_as_yaml(dev_values):
    result = CliRunner().invoke(build_app(), ["hub", "values", "--environment", "minfin-dev",
                                              "--infra-dir", str(INFRA)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == dev_values


def test_cli_names_a_missing_environment(tmp_path):
    result = CliRunner().invoke(build_app(), ["hub", "values", "-e", "nope", "--infra-dir", str(INFRA)])
    assert result.exit_code == 1
    assert "Pulumi.nope.yaml does not exist" in result.stderr
    assert "minfin-dev" in result.stderr  # the known ones are listed


# -- speed on Kubernetes (issue 13): images pulled before anyone asks, room kept per pool ------------------------

Z2JH = Path(__file__).parent / "fixtures" / "z2jh-4.3.3"


def _merged(defaults: dict, values: dict) -> dict:
    """Helm's merge of user values over the chart's values.yaml (maps merge, everything else replaces)."""
    merged = dict(defaults)
    for key, value in values.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


def test_the_values_are_valid_for_the_z2jh_chart(dev_values, prod_values):
    """What ``helm install`` checks first: the values merged over the chart's values.yaml against the chart's
    values.schema.json (z2jh 4.3.3, the chart infra deploys: infra/versions.py; copied from the chart's repository at
    that tag, descriptions stripped as its tools/generate-json-schema.py does). The schema itself is checked to
    refuse a wrong value, so this test can fail."""
    import jsonschema

    from gereedschapskist.infra import versions

    assert versions.JUPYTERHUB_CHART_VERSION == "4.3.3", "update tests/hub/fixtures/z2jh-* with the chart"
    schema = json.loads((Z2JH / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((Z2JH / "values.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    for values in (dev_values, prod_values):
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(_merged(defaults, json.loads(json.dumps(values))))]
        assert not errors, errors
    wrong = _merged(defaults, {**dev_values, "prePuller": {**dev_values["prePuller"], "hook": {"enabled": "yes"}}})
    assert list(validator.iter_errors(wrong))


def test_every_offered_bundle_image_is_pulled_before_anyone_asks_on_every_pool(dev_values):
    _, bundles = _offered(dev_values)
    puller = dev_values["prePuller"]
    assert puller["hook"]["enabled"] is True and puller["continuous"]["enabled"] is True
    assert puller["pullProfileListImages"] is False       # the hub renders the profiles: the values list the images
    pulled = {f"{image['name']}:{image['tag']}" for image in puller["extraImages"].values()}
    assert pulled == {CATALOGUE.bundles[b].image.reference.split("@")[0] for b in bundles}
    assert all(len(name) <= 63 and name == name.lower() for name in puller["extraImages"])
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in \
        puller["extraTolerations"]
    assert "nodeSelector" not in dev_values["singleuser"]   # it would confine the puller to one pool


def test_placeholders_keep_room_per_role_pool_and_user_pods_preempt_them(dev_values):
    from gereedschapskist.core.placement import POOL_LABEL, node_pool

    assert dev_values["scheduling"]["podPriority"]["enabled"] is True
    assert dev_values["scheduling"]["userPlaceholder"]["enabled"] is False   # one set per release: not per pool
    placeholders = dev_values["custom"]["gereedschapskist"]["userPlaceholders"]
    _, bundles = _offered(dev_values)
    pools = {node_pool(CATALOGUE.bundles[b], CATALOGUE.bundles[b].default_size) for b in bundles} - {"gpu"}
    assert set(placeholders) == pools
    for pool, placeholder in placeholders.items():
        assert placeholder["nodeSelector"] == {POOL_LABEL: pool} and placeholder["replicas"] >= 1
        starting_here = [CATALOGUE.bundles[b].default_size for b in bundles
                         if node_pool(CATALOGUE.bundles[b], CATALOGUE.bundles[b].default_size) == pool]
        assert placeholder["resources"]["requests"] == {"cpu": max(float(s.cpu) for s in starting_here),
                                                        "memory": max(s.memory_bytes for s in starting_here)}
