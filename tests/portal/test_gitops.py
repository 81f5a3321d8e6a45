"""The gitops provisioner (issue 14, portal/services/gitops.py): the stack file it writes passes the infra config
model and ``gereedschapskist infra preview-config`` (the real command, run once), the pull request goes through
GitHub's REST API or into a local branch without touching the checkout's working tree, and CI's activation (the
``contracts activate`` command and the token-authenticated callback) makes the contract active with a cloud
Environment.

Stand-ins, because the real thing cannot run here: GitHub's REST API is a small local HTTP server implementing the
calls the provisioner makes (:class:`FakeGitHub`); the Pulumi CLI is not installed, so CI's ``pulumi up`` is not
run — the workflow file is checked to name the commands that exist, and the activation after it is run for real.
Outside the one test that runs preview-config itself, the provisioner's check is replaced by a function returning
its text (preview-config imports Pulumi: ~10 s a run)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner

from gereedschapskist.core.environment import load_environment
from gereedschapskist.infra.config import ContractStack, load_stack
from gereedschapskist.portal.cli import contracts as contracts_cli
from gereedschapskist.portal.models import Contract, ContractState, Environment, EnvironmentStage, ProvisioningStatus
from gereedschapskist.portal.services import contracts, gitops, provisioning
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.test_contracts_service import CATALOGUE, place, user
from tests.portal.test_contracts_service import people  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "activation-" + "x" * 40
S = ContractState


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with a main branch, a staged change and an untracked file (which must stay as they are)."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "infra").mkdir()
    (repo / "infra" / "Pulumi.yaml").write_text("name: gereedschapskist\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.nl", "commit", "-q", "-m", "start")
    (repo / "infra" / "Pulumi.yaml").write_text("name: gereedschapskist\n# work in progress\n")
    git(repo, "add", "infra/Pulumi.yaml")
    (repo / "notes.txt").write_text("mine")
    return repo


GITOPS = dict(provisioner="gitops", oidc_issuer="https://login.example.nl/realms/werkbank",
              gitops_cloud_accounts={"aws": "123456789012"}, gitops_acme_email="beheer@minfin.example.nl",
              gitops_hub_domain="werkbank.example.nl",
              contract_activation_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest())


@pytest.fixture
def settings(database, tmp_path: Path, hub_port: int, repo: Path) -> PortalSettings:
    return PortalSettings(database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
                          organisations="cbs minfin", hub_url=f"http://127.0.0.1:{hub_port}", hub_api_token="t" * 40,
                          reconcile_interval_seconds=0, provisioning_interval_seconds=0, gitops_repo_dir=repo,
                          **GITOPS)


@pytest.fixture
def sessions(app, client):
    return app.state.portal.sessions


@pytest.fixture
def quick_check(monkeypatch):
    """preview-config's verdict without importing Pulumi (the real run is test_the_stack_file_...)."""
    checked = []

    def check(self, name, text):
        checked.append((name, yaml.safe_load(text)))
        return f"stack {name}: contract environment\n✓ stack {name!r} is deployable"

    monkeypatch.setattr(gitops.GitopsProvisioner, "check", check)
    return checked


def gitops_contract(sessions) -> int:
    with sessions() as session:
        contract = place(session)
        contract.provisioner = "gitops"
        contracts.transition(session, contract=contract, to=S.APPROVED, actor=user(session, "femke"),
                             reason="checked")
        provisioning.start(session, contract=contract)
        session.commit()
        return contract.id


def test_the_stack_file_passes_the_infra_config_model_and_preview_config(tmp_path):
    contract = SimpleNamespace(
        id=12, organisation=SimpleNamespace(slug="minfin", name="Ministerie van Financiën"), partner="aws",
        region="eu-central-1", stage=EnvironmentStage.PRODUCTION, roles=["bi"], bundles=["bi-sql-duckdb"],
        sizes=["bi-sql-duckdb/small"], budget_eur=Decimal("6000"), starts_on=date(2027, 1, 1),
        ends_on=date(2027, 6, 30), cost_centre="KP-4711", expected_users=4, hours_per_week=Decimal("10"))
    settings = PortalSettings(**{k: v for k, v in GITOPS.items() if k != "contract_activation_token_sha256"})
    text = gitops.stack_text(contract, settings=settings)
    (tmp_path / "Pulumi.minfin-c12.yaml").write_text(text)
    stack = load_stack("minfin-c12", tmp_path)           # the loader preview-config and `hub values` use
    assert isinstance(stack, ContractStack)
    env, cloud = stack.environment, stack.cloud
    assert (env.name, env.organisation, env.contract, env.stage, env.roles, env.bundles, env.admin_group) == (
        "minfin-c12", "minfin", "portal-contract-12", "production", ("bi",), ("bi-sql-duckdb",), "org-admin:minfin")
    assert str(env.public_url) == "https://minfin-c12.werkbank.example.nl/"
    assert str(env.oidc.issuer) == "https://login.example.nl/realms/werkbank"
    assert (cloud.partner, cloud.region, cloud.account, cloud.cost_centre, cloud.budget_eur_per_month) == (
        "aws", "eu-central-1", "123456789012", "kp-4711", 1009)     # 6000 over 181 days (5.95 months), rounded up
    assert load_environment("minfin-c12", tmp_path) == env
    output = gitops.check_stack("minfin-c12", text)                  # the real command CI runs first
    assert "✓ stack 'minfin-c12' is deployable" in output and "bundles: bi-sql-duckdb" in output
    with pytest.raises(provisioning.ProvisioningFailed, match="region") as refused:
        gitops.check_stack("minfin-c12", text.replace("eu-central-1", "us-east-1"))
    assert refused.value.reason == "stack-file-invalid"


def test_missing_settings_are_named_and_the_attempt_fails_visibly(people, settings, quick_check):
    sessions = people
    contract_id = gitops_contract(sessions)
    bare = settings.model_copy(update={"gitops_cloud_accounts": {}, "gitops_acme_email": None,
                                       "gitops_hub_domain": None})
    assert provisioning.attempt(sessions, contract_id=contract_id, settings=bare,
                                catalogue=CATALOGUE) is ProvisioningStatus.FAILED
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.state is S.PROVISIONING
        assert "GITOPS_CLOUD_ACCOUNTS['aws']" in contract.provisioning_error
        assert "GITOPS_ACME_EMAIL" in contract.provisioning_error
        assert "GITOPS_HUB_DOMAIN" in contract.provisioning_error


def test_without_a_token_a_local_branch_and_pr_text_are_written_and_the_checkout_is_untouched(
        people, settings, repo, quick_check, login):
    sessions = people
    contract_id = gitops_contract(sessions)
    status_before, index_before = git(repo, "status", "--porcelain"), git(repo, "ls-files", "-s")
    head_before = git(repo, "rev-parse", "HEAD")
    assert provisioning.attempt(sessions, contract_id=contract_id, settings=settings,
                                catalogue=CATALOGUE) is ProvisioningStatus.WAITING
    name = f"minfin-c{contract_id}"
    assert (git(repo, "status", "--porcelain"), git(repo, "ls-files", "-s")) == (status_before, index_before)
    assert git(repo, "rev-parse", "HEAD") == head_before and not (repo / "infra" / f"Pulumi.{name}.yaml").exists()
    branch = f"contract/{name}"
    assert git(repo, "rev-parse", f"{branch}^") == head_before
    committed = yaml.safe_load(git(repo, "show", f"{branch}:infra/Pulumi.{name}.yaml"))
    assert committed == quick_check[0][1]
    assert committed["config"]["gereedschapskist:environment"]["contract"] == f"portal-contract-{contract_id}"
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        detail = contract.provisioning_detail
        assert (contract.state, detail["local_only"], detail["branch"]) == (S.PROVISIONING, True, branch)
        pr_text = Path(detail["pr_text_file"]).read_text()
        assert f"Contract {contract_id}: Ministerie" in pr_text or f"Contract {contract_id}:" in pr_text
        assert "bi-sql-duckdb" in pr_text and f"pulumi up --stack {name}" in pr_text
        commit = detail["commit"]
        # a retry (the same contract again) reuses the branch's commit: idempotent
        contract.provisioning_status = ProvisioningStatus.PENDING
        session.commit()
    assert provisioning.attempt(sessions, contract_id=contract_id, settings=settings,
                                catalogue=CATALOGUE) is ProvisioningStatus.WAITING
    assert git(repo, "rev-parse", branch) == commit
    page = login("femke", ["gereedschapskist:admins"]).client.get(f"/contracts/{contract_id}",
                                                                 headers={"Accept-Language": "en"})
    assert 'id="provisioning-local"' in page.text and 'data-status="waiting"' in page.text
    assert branch in page.text and 'id="retry-button"' not in page.text


class FakeGitHub(ThreadingHTTPServer):
    """The calls of GitHub's REST API the provisioner makes, on one repository, in memory."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), GitHubHandler)
        self.refs = {"main": "c0"}
        self.trees, self.commits, self.files = {"t0": {}}, {"c0": "t0"}, {}
        self.pulls: list[dict] = []
        self.calls: list[tuple[str, str, dict | None]] = []
        self.auth: set[str] = set()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class GitHubHandler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        gh = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path, _, query = self.path.partition("?")
        gh.calls.append((method, path, body))
        gh.auth.add(self.headers.get("Authorization", ""))
        prefix = "/repos/rijk/werkbank"
        if not path.startswith(prefix):
            return self._answer(404, {"message": "Not Found"})
        path = path[len(prefix):]
        if method == "GET" and path.startswith("/git/ref/heads/"):
            ref = path[len("/git/ref/heads/"):]
            return self._answer(200, {"object": {"sha": gh.refs[ref]}}) if ref in gh.refs else \
                self._answer(404, {"message": "Not Found"})
        if method == "GET" and path.startswith("/git/commits/"):
            return self._answer(200, {"tree": {"sha": gh.commits[path.rsplit("/", 1)[1]]}})
        if method == "GET" and path.startswith("/contents/"):
            ref = dict(p.split("=") for p in query.split("&"))["ref"]
            content = gh.trees[gh.commits[ref]].get(path[len("/contents/"):])
            if content is None:
                return self._answer(404, {"message": "Not Found"})
            data = content.encode()
            return self._answer(200, {"sha": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()})
        if method == "POST" and path == "/git/trees":
            sha = f"t{len(gh.trees)}"
            gh.trees[sha] = {**gh.trees[body["base_tree"]], **{e["path"]: e["content"] for e in body["tree"]}}
            return self._answer(201, {"sha": sha})
        if method == "POST" and path == "/git/commits":
            sha = f"c{len(gh.commits)}"
            gh.commits[sha] = body["tree"]
            return self._answer(201, {"sha": sha})
        if method == "POST" and path == "/git/refs":
            gh.refs[body["ref"][len("refs/heads/"):]] = body["sha"]
            return self._answer(201, {"ref": body["ref"]})
        if method == "PATCH" and path.startswith("/git/refs/heads/"):
            gh.refs[path[len("/git/refs/heads/"):]] = body["sha"]
            return self._answer(200, {})
        if method == "GET" and path == "/pulls":
            head = dict(p.split("=") for p in query.split("&"))["head"].replace("%3A", ":").replace("%2F", "/")
            return self._answer(200, [p for p in gh.pulls if f"rijk:{p['head']}" == head])
        if method == "POST" and path == "/pulls":
            number = len(gh.pulls) + 1
            gh.pulls.append({**body, "number": number, "html_url": f"https://github.com/rijk/werkbank/pull/{number}"})
            return self._answer(201, gh.pulls[-1])
        return self._answer(404, {"message": "Not Found"})

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PATCH(self):
        self._route("PATCH")


@pytest.fixture
def github():
    server = FakeGitHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_with_a_token_the_pull_request_is_opened_through_githubs_api_once(people, settings, github, quick_check,
                                                                         repo):
    sessions = people
    contract_id = gitops_contract(sessions)
    with_token = settings.model_copy(update={"gitops_github_token": SecretStr("ghp_" + "s" * 36),
                                             "gitops_github_repo": "rijk/werkbank",
                                             "gitops_github_api_url": github.url()})
    assert provisioning.attempt(sessions, contract_id=contract_id, settings=with_token,
                                catalogue=CATALOGUE) is ProvisioningStatus.WAITING
    name = f"minfin-c{contract_id}"
    branch = f"contract/{name}"
    assert [(p["head"], p["base"], p["number"]) for p in github.pulls] == [(branch, "main", 1)]
    assert github.pulls[0]["title"].startswith(f"Contract {contract_id}: ")
    assert "EUR 5000" in github.pulls[0]["body"] and "bi-sql-duckdb" in github.pulls[0]["body"]
    written = github.trees[github.commits[github.refs[branch]]][f"infra/Pulumi.{name}.yaml"]
    assert yaml.safe_load(written) == quick_check[0][1]
    assert github.auth == {"Bearer ghp_" + "s" * 36}
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        detail = contract.provisioning_detail
        assert detail["pull_request_url"] == "https://github.com/rijk/werkbank/pull/1" and "local_only" not in detail
        contract.provisioning_status = ProvisioningStatus.PENDING      # a retry
        session.commit()
    posts = len([c for c in github.calls if c[0] == "POST"])
    assert provisioning.attempt(sessions, contract_id=contract_id, settings=with_token,
                                catalogue=CATALOGUE) is ProvisioningStatus.WAITING
    assert len(github.pulls) == 1 and len([c for c in github.calls if c[0] == "POST"]) == posts
    assert git(repo, "branch", "--list", branch) == ""                 # nothing local with a token
    # GitHub refusing is the attempt's error, without the token
    github.refs.pop("main")
    with sessions() as session:
        session.get(Contract, contract_id).provisioning_status = ProvisioningStatus.PENDING
        session.commit()
    assert provisioning.attempt(sessions, contract_id=contract_id, settings=with_token,
                                catalogue=CATALOGUE) is ProvisioningStatus.FAILED
    with sessions() as session:
        error = session.get(Contract, contract_id).provisioning_error
        assert "GitHub GET /git/ref/heads/main: 404 Not Found" in error and "ghp_" not in error


def test_activation_by_callback_needs_its_token_and_registers_the_cloud_environment(people, settings, client,
                                                                                   quick_check):
    sessions = people
    contract_id = gitops_contract(sessions)
    provisioning.attempt(sessions, contract_id=contract_id, settings=settings, catalogue=CATALOGUE)
    url = f"/api/v1/contracts/{contract_id}/activate"
    body = {"hub_url": f"https://minfin-c{contract_id}.gereedschapskist.nl/"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = client.post(url, json=body, headers=headers)
        assert (refused.status_code, refused.json()["reason"]) == (401, "activation-refused")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/v1/contracts/999999/activate", json=body, headers=auth).status_code == 404
    bad = client.post(url, json={"hub_url": "ftp://x"}, headers=auth)
    assert (bad.status_code, bad.json()["reason"]) == (422, "invalid-hub-url")
    done = client.post(url, json=body, headers=auth)
    assert done.status_code == 200 and done.json()["state"] == "active"
    assert done.json()["provisioning"]["status"] == "done"
    assert client.post(url, json=body, headers=auth).status_code == 200            # CI may repeat it
    with sessions() as session:
        environments = session.scalars(select(Environment).where(Environment.contract_id == contract_id)).all()
        assert [(e.name, e.kind.value, e.hub_url, e.hub_api_url, e.organisation.slug) for e in environments] == [
            (f"minfin-c{contract_id}", "cloud", body["hub_url"].rstrip("/"),
             body["hub_url"].rstrip("/") + "/hub/api", "minfin")]
        assert session.get(Contract, contract_id).environment_id == environments[0].id
    # without the setting, no token opens it
    unset = settings.model_copy(update={"contract_activation_token_sha256": None})
    client.app.state.portal.settings = unset
    try:
        assert client.post(url, json=body, headers=auth).status_code == 401
    finally:
        client.app.state.portal.settings = settings


def test_activation_by_the_cli(people, settings, database, quick_check, monkeypatch):
    sessions = people
    contract_id = gitops_contract(sessions)
    provisioning.attempt(sessions, contract_id=contract_id, settings=settings, catalogue=CATALOGUE)
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_STATE_DIR", str(settings.state_dir))
    runner = CliRunner()
    args = ["--hub-url", "https://hub.example.nl", "--database-url", database.url]
    missing = runner.invoke(contracts_cli, ["activate", "999999", *args])
    assert missing.exit_code == 1 and "no contract 999999" in missing.output
    done = runner.invoke(contracts_cli, ["activate", str(contract_id), *args, "--hub-api-url",
                                         "https://hub.example.nl/api"])
    assert done.exit_code == 0, done.output
    assert f"contract {contract_id} is active" in done.output
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.state is S.ACTIVE and contract.environment.kind.value == "cloud"
        assert contract.environment.hub_api_url == "https://hub.example.nl/api"
        assert session.scalar(select(func.count()).select_from(Environment)
                              .where(Environment.contract_id == contract_id)) == 1
    ended = runner.invoke(contracts_cli, ["activate", str(contract_id), "--hub-url", "https://other.example.nl",
                                          "--database-url", database.url])
    assert ended.exit_code == 1 and "only a contract being provisioned" in ended.output


def test_the_deploy_workflow_runs_the_commands_that_exist(app):
    """CI's deploy job: valid YAML, on a push to main changing stack files; it runs preview-config and `pulumi up`
    for the stack (as infra/README.md documents) and calls the activation endpoint the portal has."""
    from gereedschapskist.infra.cli import app as infra_app

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-contract.yml").read_text())
    on = workflow[True] if True in workflow else workflow["on"]     # YAML 1.1 reads the key `on` as true
    assert on["push"]["branches"] == ["main"] and on["push"]["paths"] == ["infra/Pulumi.*.yaml"]
    script = "\n".join(step.get("run", "") for step in workflow["jobs"]["deploy"]["steps"])
    assert 'gereedschapskist infra preview-config "$stack"' in script
    assert "preview-config" in [c.name for c in infra_app.registered_commands]
    assert 'pulumi up --yes --stack "$stack"' in script
    assert "pulumi up --stack" in (ROOT / "infra" / "README.md").read_text()
    assert '/api/v1/contracts/$contract/activate' in script and "Authorization: Bearer $ACTIVATION_TOKEN" in script
    assert "post" in app.openapi()["paths"]["/api/v1/contracts/{contract_id}/activate"]
    assert "portal-contract-" in script and gitops.CONTRACT_TAG.startswith("portal-contract-")


def test_approving_a_gitops_contract_leaves_the_attempt_to_the_worker(people, settings, login, quick_check):
    """preview-config takes seconds: the approving request does not wait for it; the worker's pass does it."""
    sessions = people
    with sessions() as session:
        contract = place(session)
        contract.provisioner = "gitops"
        session.commit()
        contract_id = contract.id
    femke = login("femke", ["gereedschapskist:admins"])
    approved = femke.post_json(f"/api/v1/contracts/{contract_id}/approve", {"reason": "checked"})
    assert approved.status_code == 200 and approved.json()["state"] == "provisioning"
    assert (approved.json()["provisioning"]["status"], approved.json()["provisioning"]["attempts"]) == ("pending", 0)
    assert quick_check == []
    assert provisioning.worker_pass(sessions, settings=settings, catalogue=CATALOGUE, holder="w") is True
    assert femke.client.get(f"/api/v1/contracts/{contract_id}").json()["provisioning"]["status"] == "waiting"
